"""The web console in a real headless browser (Debian's chromium and chromedriver) against the
local stack: sign in, watch a job's progress move, play the finished video, submit with a
preset, cancel, batches and usage, and one tenant's key showing nothing of another's.

Each page is saved as a screenshot under ``.local/screenshots/``. ``make test`` installs the
browser when it is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_support import PIPELINE_SPEED, wait_for_job

from videojobs.models.presets import PRESETS
from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".local" / "screenshots"
STACK_PARAMETERS = (
    "FirstStatusCheckSeconds=0 PollIntervalSeconds=8 MaxPollIntervalSeconds=8 SlotWaitSeconds=2 "
    "ProviderRetryIntervalSeconds=1 MaxConcurrentJobs=5 ProgressRefreshSeconds=1 "
    "ProviderRequestsPerMinute=6000"
)
# A 4-s sora-2 clip takes about 75 s of provider time: at 5x it runs for about 15 s, long
# enough for the page to show several progress values on the way.
WATCHABLE_SPEED = 5.0
SLOW_SPEED = 0.5

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "NO BROWSER: the console's browser tests need /usr/bin/chromium and "
        "/usr/bin/chromedriver (apt-get install chromium chromium-driver; `make test` does it)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (only once the browser is known to be there)
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    # The driver Debian installs beside the browser: selenium never downloads one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver, service: LocalVideojobs) -> Iterator[WebDriver]:
    """The console, freshly loaded and signed out (a new tab session each test)."""
    browser.get(service.console_url)
    browser.execute_script("sessionStorage.clear()")
    browser.get(service.console_url)
    yield browser
    browser.execute_script("sessionStorage.clear()")


def until(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 60) -> Any:
    # The page redraws its lists every refresh: an element read mid-redraw is stale, and
    # the check is simply tried again.
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.1,
        ignored_exceptions=[NoSuchElementException, StaleElementReferenceException],
    ).until(check)


def screenshot(driver: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path


def sign_in(driver: WebDriver, key: str) -> None:
    field = driver.find_element(By.ID, "api-key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.ID, "signin-button").click()
    until(driver, lambda d: d.find_element(By.ID, "jobs-view").is_displayed())


def job_item(driver: WebDriver, job_id: str) -> WebElement:
    return until(driver, lambda d: d.find_element(By.CSS_SELECTOR, f'li[data-id="{job_id}"]'))


def listed_ids(driver: WebDriver) -> set[str]:
    return {
        item.get_attribute("data-id") for item in driver.find_elements(By.CSS_SELECTOR, "li.job")
    }


def shown_tile(thumb: WebElement) -> str | None:
    """The spritesheet tile the hover layer of a thumbnail shows, once it shows one."""
    layers = thumb.find_elements(By.CSS_SELECTOR, ".scrub")
    return layers[0].get_attribute("data-tile") if layers else None


def submit(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/videos", json=body)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


# --- tests -----------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_and_the_right_one_signs_in(
    page: WebDriver, service: LocalVideojobs
) -> None:
    # Given the console's sign-in page
    screenshot(page, "01-sign-in")
    # When a wrong key is entered
    page.find_element(By.ID, "api-key").send_keys("sk-not-a-key")
    page.find_element(By.ID, "signin-button").click()
    # Then the page says so and stays signed out, keeping nothing
    error = until(
        page,
        lambda d: (
            d.find_element(By.ID, "signin-error").is_displayed()
            and d.find_element(By.ID, "signin-error")
        ),
    )
    assert "refused" in error.text
    assert page.execute_script("return sessionStorage.length") == 0
    # When the stack's key is entered, the job list is shown and the key is kept in the tab
    sign_in(page, service.api_key)
    assert page.execute_script("return Object.values(sessionStorage)") == [service.api_key]
    # And signing out forgets it
    page.find_element(By.ID, "signout").click()
    until(page, lambda d: d.find_element(By.ID, "signin-view").is_displayed())
    assert page.execute_script("return sessionStorage.length") == 0


def test_a_job_s_progress_moves_and_the_finished_video_plays_in_the_page(
    page: WebDriver, service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job the provider takes about 15 s to generate
    service.emulator.update_config(speed=WATCHABLE_SPEED)
    job = submit(
        api, {"prompt": "A paper boat on a rainy street", "seconds": "4", "size": "1280x720"}
    )
    # When the user signs in and opens it
    sign_in(page, service.api_key)
    job_item(page, job["id"]).click()
    # Then the page shows its progress moving, with a reason while it waits
    seen: list[int] = []
    reasons: set[str] = set()
    deadline = time.monotonic() + 90
    shot = False
    while time.monotonic() < deadline:
        item = job_item(page, job["id"])
        # One read of the three, so they describe the same render.
        progress, reason, status = page.execute_script(
            "const d = arguments[0].dataset; return [Number(d.progress), d.reason, d.status]",
            item,
        )
        if not seen or progress != seen[-1]:
            seen.append(progress)
        reasons.add(reason)
        if 30 <= progress < 100 and not shot:
            screenshot(page, "02-jobs-progress")
            shot = True
        if status == "completed":
            break
        time.sleep(0.2)
    assert seen == sorted(seen), seen
    assert len([p for p in seen if 0 < p < 100]) >= 2, seen
    assert seen[-1] == 100
    assert "waiting_for_provider" in reasons
    # And the finished video plays in the page: the <video> knows its 4-s duration
    player = until(
        page,
        lambda d: (
            d.find_element(By.ID, "player").is_displayed() and d.find_element(By.ID, "player")
        ),
    )
    can_play = page.execute_script(
        "return arguments[0].canPlayType('video/mp4; codecs=\"avc1.640028\"')", player
    )
    assert can_play in {"probably", "maybe"}, f"this chromium cannot play H.264: {can_play!r}"
    duration = until(
        page,
        lambda d: d.execute_script(
            "const v = arguments[0];"
            " return v.readyState >= 1 && v.duration > 0 ? v.duration : null",
            player,
        ),
    )
    assert abs(float(duration) - 4.0) < 0.5
    page.execute_script("arguments[0].muted = true; return arguments[0].play()", player)
    until(page, lambda d: d.execute_script("return arguments[0].currentTime", player) > 0.2)
    screenshot(page, "03-video-playing")


def test_hovering_a_thumbnail_scrubs_through_the_spritesheet(
    page: WebDriver, service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a finished job
    job = submit(api, {"prompt": "A lighthouse at dusk", "seconds": "4", "size": "1280x720"})
    wait_for_job(api, job["id"])
    sign_in(page, service.api_key)
    thumb = until(
        page,
        lambda d: (
            job_item(d, job["id"]).find_element(By.CSS_SELECTOR, ".thumb img")
            and job_item(d, job["id"]).find_element(By.CSS_SELECTOR, ".thumb")
        ),
    )
    # When the pointer moves from the left edge of its thumbnail to the right
    tiles = []
    width = thumb.size["width"]
    for fraction in (0.06, 0.56, 0.94):  # in the first, fifth and last eighth
        offset = round(width * fraction) - width // 2  # offsets count from the centre
        ActionChains(page).move_to_element_with_offset(thumb, offset, 0).perform()
        tiles.append(int(until(page, lambda d: shown_tile(thumb))))
    # Then it shows the spritesheet's first, fifth and last tiles (8 for 4 s)
    assert tiles == [0, 4, 7]


def test_submitting_with_a_preset_creates_the_preset_s_video(
    page: WebDriver, service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given the signed-in console's submit form
    sign_in(page, service.api_key)
    page.find_element(By.CSS_SELECTOR, '[data-tab="new"]').click()
    until(page, lambda d: len(Select(d.find_element(By.ID, "preset")).options) > 1)
    # When a prompt is submitted with the tiktok preset
    page.find_element(By.ID, "prompt").send_keys("A skateboarder at sunrise")
    Select(page.find_element(By.ID, "preset")).select_by_value("tiktok")
    screenshot(page, "04-new-video")
    page.find_element(By.ID, "submit-button").click()
    # Then the console shows the new job, and the API has it with the preset's shape
    detail = until(
        page,
        lambda d: (
            d.find_element(By.ID, "detail").is_displayed() and d.find_element(By.ID, "detail")
        ),
    )
    job_id = detail.get_attribute("data-id")
    assert job_id and job_id.startswith("video_")
    created = api.get(f"/videos/{job_id}").json()
    preset = PRESETS["tiktok"]
    assert (created["size"], created["seconds"], created["model"]) == (
        preset.size,
        preset.seconds,
        preset.model,
    )
    assert created["prompt"].startswith("A skateboarder at sunrise")
    assert wait_for_job(api, job_id)["status"] == "completed"


def test_cancelling_a_running_job_keeps_it_and_deleting_removes_it(
    page: WebDriver, service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job that takes minutes
    service.emulator.update_config(speed=SLOW_SPEED)
    job = submit(api, {"prompt": "A slow sunset", "seconds": "4"})
    sign_in(page, service.api_key)
    job_item(page, job["id"]).click()
    # When the user cancels it and confirms
    until(page, lambda d: d.find_element(By.ID, "cancel-button").is_displayed())
    page.find_element(By.ID, "cancel-button").click()
    until(page, lambda d: d.find_element(By.ID, "confirm").is_displayed())
    screenshot(page, "05-cancel-confirm")
    page.find_element(By.ID, "confirm-yes").click()
    # Then the job ends cancelled, in the page and in the API
    until(page, lambda d: job_item(d, job["id"]).get_attribute("data-status") == "cancelled")
    assert api.get(f"/videos/{job['id']}").json()["status"] == "cancelled"
    assert not page.find_element(By.ID, "cancel-button").is_displayed()
    screenshot(page, "06-cancelled")
    # And deleting it, once confirmed, removes it from the page and the API
    page.find_element(By.ID, "delete-button").click()
    until(page, lambda d: d.find_element(By.ID, "confirm").is_displayed())
    page.find_element(By.ID, "confirm-yes").click()
    until(page, lambda d: job["id"] not in listed_ids(d))
    assert api.get(f"/videos/{job['id']}").status_code == 404


def test_batches_and_usage_pages(
    page: WebDriver, service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a batch of two jobs that has finished
    response = api.post(
        "/video_batches",
        json={
            "requests": [
                {"prompt": "A red kite", "seconds": "4"},
                {"prompt": "A blue kite", "seconds": "4"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    batch = response.json()
    for job_id in batch["job_ids"]:
        wait_for_job(api, job_id)
    sign_in(page, service.api_key)
    # When the batches page is opened, it shows the batch with both its jobs
    page.find_element(By.CSS_SELECTOR, '[data-tab="batches"]').click()
    card = until(
        page, lambda d: d.find_element(By.CSS_SELECTOR, f'li.batch[data-id="{batch["id"]}"]')
    )
    assert all(job_id in card.text for job_id in batch["job_ids"])
    assert "2 completed" in card.text
    screenshot(page, "07-batches")
    # And the usage page shows this month's jobs and both budgets
    page.find_element(By.CSS_SELECTOR, '[data-tab="usage"]').click()
    until(page, lambda d: "total" in d.find_element(By.ID, "usage").text)
    assert "Daily budget" in page.find_element(By.ID, "budgets").text
    screenshot(page, "08-usage")


def test_a_tenant_s_key_shows_none_of_another_tenant_s_jobs(
    page: WebDriver, service: LocalVideojobs, api: httpx.Client
) -> None:
    # Given a job of tenant A (the stack's key) and one of tenant B
    mine = submit(api, {"prompt": "Tenant A's lighthouse", "seconds": "4"})
    other_key = service.create_tenant_key("tenant-b")
    with httpx.Client(
        base_url=service.api_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        theirs = submit(other, {"prompt": "Tenant B's secret garden", "seconds": "4"})
        wait_for_job(other, theirs["id"])
    wait_for_job(api, mine["id"])
    # When A signs in, A's job is listed and nothing of B's is anywhere in the page
    sign_in(page, service.api_key)
    job_item(page, mine["id"])
    time.sleep(2.5)  # one more refresh of the list and of every watched job
    assert theirs["id"] not in listed_ids(page)
    assert theirs["id"] not in page.page_source
    assert "secret garden" not in page.page_source
    screenshot(page, "09-tenant-a")
    # And B, signed in in the same tab after A signs out, sees only B's job
    page.find_element(By.ID, "signout").click()
    sign_in(page, other_key)
    job_item(page, theirs["id"])
    assert listed_ids(page) == {theirs["id"]}
    assert mine["id"] not in page.page_source


def test_the_console_is_served_with_a_strict_content_security_policy(
    service: LocalVideojobs,
) -> None:
    # When the page and its files are fetched without any key
    with httpx.Client(timeout=10) as client:
        answers = [
            client.get(service.console_url + suffix)
            for suffix in ("", "/console.js", "/console.css")
        ]
    # Then they are served, scripts only from the page's own origin, no inline script
    for answer in answers:
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in answers[0].text
    assert "http" not in answers[0].text.replace('href="v1/docs"', "")
    # And the media come only from the stack's own bucket endpoint
    assert (
        f"media-src {service.stack.aws_endpoint_url}"
        in answers[0].headers["content-security-policy"]
    )


@pytest.fixture(autouse=True)
def _provider_speed(service: LocalVideojobs) -> Iterator[None]:
    yield
    service.emulator.update_config(speed=PIPELINE_SPEED)
