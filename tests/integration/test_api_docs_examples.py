"""docs/api.md's examples, run as a reader would run them against the local stack.

Every fenced block marked ``<!-- example: NAME -->`` is executed: bash blocks with ``bash -euo
pipefail`` (curl and the ``videojobs`` CLI), python blocks with this interpreter (the openai
SDK). The stack runs in this process; the examples reach it over HTTP from subprocesses, with
``API``, ``KEY``, ``STATE`` and ``CALLBACK_SECRET`` set, each in its own directory holding
``.local/stack.json`` as ``videojobs local up`` leaves it. Each example is checked for what its
text promises, so the guide cannot drift from the code.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import API_LIMITS_OFF

from videojobs_local.local import LocalVideojobs, run_local

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
API_DOC = REPO / "docs" / "api.md"
OPENAPI_DOC = REPO / "docs" / "openapi.json"

MARKER = re.compile(r"<!-- example: (?P<name>[^>]+?) -->\n```(?P<language>bash|python)\n")
FENCE = re.compile(r"^```(?P<language>bash|python)$", re.MULTILINE)
EXAMPLE_TIMEOUT_SECONDS = 60
# Provider time 100x faster: a 4-second sora-2 video is ready in about a second.
EMULATOR_SPEED = 100.0
# Examples run side by side: most of their time is spent waiting for videos.
PARALLEL_EXAMPLES = 4
# The guide's examples make about thirty videos at once: enough slots and provider requests
# that waiting for them is not what the test measures.
STACK_PARAMETERS = (
    "FirstStatusCheckSeconds=0 PollIntervalSeconds=4 MaxPollIntervalSeconds=4 SlotWaitSeconds=2 "
    "ProviderRetryIntervalSeconds=1 MaxConcurrentJobs=20 ProgressRefreshSeconds=1 "
    f"MaxJobsPerTenant=0 ProviderRequestsPerMinute=6000 {API_LIMITS_OFF}"
)


@dataclass(frozen=True)
class Example:
    name: str
    language: str
    code: str


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    cwd: Path

    def lines(self) -> list[str]:
        return self.stdout.strip().splitlines()


def parse_examples(text: str) -> list[Example]:
    """The marked blocks of ``text``, in order."""
    examples = []
    for match in MARKER.finditer(text):
        end = text.index("\n```\n", match.end() - 1)
        code = text[match.end() : end + 1]
        examples.append(Example(match["name"], match["language"], code))
    return examples


EXAMPLES = parse_examples(API_DOC.read_text())


# --- what each example must show -------------------------------------------------------------


def last_json(outcome: Outcome) -> Any:
    return json.loads(outcome.lines()[-1])


def check_local_endpoint(outcome: Outcome) -> None:
    page = last_json(outcome)
    assert page["object"] == "list"


def check_auth(outcome: Outcome) -> None:
    lines = outcome.lines()
    assert lines[:2] == ["200", "200"]
    assert json.loads(lines[2])["error"]["code"] == "invalid_api_key"
    assert lines[-1] == "401"


def check_keys(outcome: Outcome) -> None:
    created = json.loads((outcome.cwd / "acme.json").read_text())
    assert created["tenant_id"] == "acme"
    assert created["api_key"].startswith("vj_")
    assert created["callback_secret"].startswith("whsec_")
    # The key is printed once, by create; list and revoke never show it or its hash.
    assert outcome.stdout.count(created["api_key"]) == 1
    assert "key_hash" not in outcome.stdout
    assert '"revoked": true' in outcome.stdout
    assert outcome.lines()[-1] == "401"


def check_tenants(outcome: Outcome) -> None:
    assert outcome.lines()[-2:] == ["200", "404"]


def check_create(outcome: Outcome) -> None:
    video = json.loads(outcome.stdout)
    assert video["id"].startswith("video_")
    assert (video["status"], video["size"], video["seconds"]) == ("queued", "1280x720", "4")
    assert video["metadata"] == {"campaign": "spring", "shot": "12"}


def check_create_multipart(outcome: Outcome) -> None:
    video = json.loads(outcome.stdout)
    assert (video["status"], video["size"], video["seconds"]) == ("queued", "1280x720", "4")
    assert video["metadata"] == {"campaign": "spring"}


def check_idempotency(outcome: Outcome) -> None:
    assert re.match(r"^same job: video_[0-9a-f]{32}$", outcome.lines()[0])
    assert last_json(outcome)["error"]["code"] == "idempotency_key_reused"


def check_preset(outcome: Outcome) -> None:
    video = json.loads(outcome.stdout)
    assert (video["size"], video["seconds"], video["model"]) == ("720x1280", "4", "sora-2")
    assert video["prompt"].endswith("fast-paced and energetic.")


def check_lifecycle(outcome: Outcome) -> None:
    video_id, status = outcome.lines()[0].split()
    assert status == "completed"
    assert "302" in outcome.lines()
    assert (outcome.cwd / "lighthouse.mp4").read_bytes()[4:8] == b"ftyp"
    assert (outcome.cwd / "lighthouse.webp").read_bytes()[:4] == b"RIFF"
    assert (outcome.cwd / "lighthouse.jpg").read_bytes()[:2] == b"\xff\xd8"
    remix = last_json(outcome)
    assert remix["remixed_from_video_id"] == video_id
    assert remix["size"] == "1280x720"


def check_list(outcome: Outcome) -> None:
    completed = json.loads((outcome.cwd / "completed.json").read_text())["data"]
    assert len(completed) <= 5 and all(v["status"] == "completed" for v in completed)
    listed = [line.split()[0] for line in outcome.lines()]
    assert len(listed) == len(set(listed)), "paging listed a video twice"
    assert all(re.match(r"^video_[0-9a-f]{32}$", video_id) for video_id in listed)
    assert {v["id"] for v in completed} <= set(listed)


def check_delete(outcome: Outcome) -> None:
    deleted = json.loads(outcome.lines()[0])
    assert (deleted["object"], deleted["deleted"]) == ("video.deleted", True)
    assert outcome.lines()[-1] == "404"


def check_cancel(outcome: Outcome) -> None:
    assert outcome.lines() == ["cancelled", "1"]


def check_batch(outcome: Outcome) -> None:
    lines = outcome.lines()
    assert all(re.match(r"^vbatch_[0-9a-f]{32}$", line) for line in lines[:2])
    batch = json.loads(lines[2])
    assert (batch["object"], batch["total"], len(batch["job_ids"])) == ("video.batch", 2, 2)
    assert sorted(ast.literal_eval(lines[3])) == [("1280x720", "4"), ("720x1280", "4")]


def check_usage(outcome: Outcome) -> None:
    assert outcome.lines() == [
        "{'estimated_usd': 0.8, 'settled_usd': None}",
        "2026-01-01 2026-01-31 0",
    ]


def check_models(outcome: Outcome) -> None:
    served = [model["id"] for model in last_json(outcome)["data"]]
    assert served == ["sora-2", "sora-2-pro", "amazon.nova-reel-v1:1", "luma.ray-v2:0"]


def check_callbacks(outcome: Outcome) -> None:
    event_type, video_id, same = outcome.lines()[-1].split()
    assert (event_type, same) == ("video.completed", "True")
    assert video_id.startswith("video_")


def check_errors(outcome: Outcome) -> None:
    lines = outcome.lines()
    seconds, ratio, unknown = (json.loads(line)["error"] for line in lines[:3])
    assert (seconds["param"], seconds["type"]) == ("seconds", "invalid_request_error")
    assert ratio["param"] == "aspect_ratio"
    assert unknown["message"] == "Unrecognized request argument supplied: colour"
    assert lines[-1] == "404"


def check_sdk(outcome: Outcome) -> None:
    lines = outcome.lines()
    assert re.match(r"^video_[0-9a-f]{32} completed 100$", lines[0])
    assert lines[1] == "{'campaign': 'spring'} ['spritesheet', 'thumbnail', 'video']"
    assert lines[3] == f"remix {lines[3].split()[1]} of {lines[0].split()[0]}"
    assert lines[-1] == "video.deleted True"
    assert (outcome.cwd / "lighthouse.mp4").read_bytes()[4:8] == b"ftyp"
    assert (outcome.cwd / "lighthouse.webp").read_bytes()[:4] == b"RIFF"


def check_sdk_extras(outcome: Outcome) -> None:
    assert outcome.lines() == [
        "720x1280 4",
        "same job: True",
        "409 idempotency_key_reused",
        "400 seconds",
        "404 404",
    ]


def check_cli_submit(outcome: Outcome) -> None:
    (video,) = (outcome.cwd / "videos").glob("video_*.mp4")
    assert video.read_bytes()[4:8] == b"ftyp"
    assert video.name in outcome.stdout
    assert '"object": "list"' in outcome.stdout


def check_cli_env(outcome: Outcome) -> None:
    saved = sorted(p.suffix for p in (outcome.cwd / "media").iterdir())
    assert saved == [".jpg", ".mp4", ".webp"]
    assert '"object": "video.deleted"' in outcome.stdout


def check_cli_batch(outcome: Outcome) -> None:
    batch = json.loads((outcome.cwd / "batch.json").read_text())
    assert (batch["status"], batch["counts"]["completed"]) == ("completed", 2)
    assert batch["metadata"] == {"campaign": "autumn"}
    saved = sorted(p.name for p in (outcome.cwd / "campaign").glob("*.mp4"))
    assert saved == ["tiktok.mp4", "youtube.mp4"]
    assert f'"batch_id": "{batch["id"]}"' in outcome.stdout


def check_openapi(outcome: Outcome) -> None:
    document, docs_page = outcome.lines()
    assert document.startswith("3.1.0 ") and "/v1/videos" in document.split()
    assert docs_page.startswith("200 text/html")


CHECKS: dict[str, Callable[[Outcome], None]] = {
    "local endpoint": check_local_endpoint,
    "curl auth": check_auth,
    "keys": check_keys,
    "curl tenants": check_tenants,
    "curl create": check_create,
    "curl create multipart": check_create_multipart,
    "curl idempotency": check_idempotency,
    "curl preset": check_preset,
    "curl lifecycle": check_lifecycle,
    "curl list": check_list,
    "curl delete": check_delete,
    "curl cancel": check_cancel,
    "curl batch": check_batch,
    "curl usage": check_usage,
    "curl models": check_models,
    "python callbacks": check_callbacks,
    "curl errors": check_errors,
    "python sdk": check_sdk,
    "python sdk extras": check_sdk_extras,
    "cli submit": check_cli_submit,
    "cli env": check_cli_env,
    "cli batch": check_cli_batch,
    "curl openapi": check_openapi,
}


# --- running them ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """What a reader of the guide has: the stack's state file, its URL, key and secret."""

    state: dict[str, Any]

    def environment(self, directory: Path) -> dict[str, str]:
        """A reader's shell in ``directory``, with ``.local/stack.json`` beside it."""
        state_file = directory / ".local" / "stack.json"
        state_file.parent.mkdir(parents=True)
        state_file.write_text(json.dumps(self.state))
        return {
            # This interpreter's bin first, so `videojobs` and `python3` are the project's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(directory),  # no ~/.curlrc or other personal configuration
            "LANG": "C.UTF-8",
            "API": self.state["api_url"],
            "KEY": self.state["api_key"],
            "STATE": str(state_file),
            "CALLBACK_SECRET": self.state["callback_secret"],
        }


def run_example(example: Example, reader: Reader, directory: Path) -> Outcome:
    """Run one example in its own directory, as a reader's shell would."""
    if example.language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", example.code]
    else:
        command = [sys.executable, "-c", example.code]
    done = subprocess.run(  # noqa: S603 - the repository's own documented commands
        command,
        env=reader.environment(directory),
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_SECONDS,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr, directory)


@pytest.fixture(scope="module")
def stack(render_cache_dir: Path) -> Iterator[LocalVideojobs]:
    with run_local(
        emulator_speed=EMULATOR_SPEED,
        parameter_overrides=STACK_PARAMETERS,
        render_cache_dir=render_cache_dir,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def outcomes(stack: LocalVideojobs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every example run once against the module's stack; each is independent of the others."""
    assert shutil.which("curl"), "curl is needed to run docs/api.md's examples: install it"
    reader = Reader(stack.state())
    root = tmp_path_factory.mktemp("api-docs")
    directories = {}
    for number, example in enumerate(EXAMPLES):
        directories[example.name] = (
            root / f"{number:02d}-{re.sub(r'[^a-z0-9]+', '-', example.name)}"
        )
        directories[example.name].mkdir()
    with ThreadPoolExecutor(PARALLEL_EXAMPLES) as pool:
        running = {
            e.name: pool.submit(run_example, e, reader, directories[e.name]) for e in EXAMPLES
        }
        return {name: future.result() for name, future in running.items()}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_does_what_the_guide_says(example: Example, outcomes: dict[str, Outcome]) -> None:
    # Given an example of docs/api.md, run against the local stack
    outcome = outcomes[example.name]

    # Then it succeeds
    assert outcome.returncode == 0, (
        f"example {example.name!r} exited {outcome.returncode}\n"
        f"--- stdout\n{outcome.stdout[-3000:]}\n--- stderr\n{outcome.stderr[-3000:]}"
    )
    # And shows what the guide promises
    try:
        CHECKS[example.name](outcome)
    except (AssertionError, ValueError, KeyError, IndexError) as exc:
        raise AssertionError(
            f"example {example.name!r} did not show what it should: {exc!r}\n"
            f"--- stdout\n{outcome.stdout[-3000:]}\n--- stderr\n{outcome.stderr[-3000:]}"
        ) from exc


def test_every_marked_example_is_run_and_checked(outcomes: dict[str, Outcome]) -> None:
    # Given the guide's text
    text = API_DOC.read_text()

    # Then every marker introduces a runnable block, names are unique, and each one ran
    assert len(EXAMPLES) == text.count("<!-- example:")
    assert len({e.name for e in EXAMPLES}) == len(EXAMPLES), "two examples share a name"
    assert set(outcomes) == {e.name for e in EXAMPLES}
    # And each has a check here (a new example needs one; a removed one loses its check)
    assert set(CHECKS) == {e.name for e in EXAMPLES}
    # And the guide has all three kinds of examples
    names = " ".join(outcomes)
    assert "curl" in names and "python sdk" in names and "cli" in names


def test_every_code_block_is_an_example_or_says_why_not() -> None:
    # Given every bash or python block of the guide
    text = API_DOC.read_text()
    for fence in FENCE.finditer(text):
        preceding = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        # Then it is run, or its marker says why it cannot be
        assert preceding.startswith(("<!-- example: ", "<!-- not run: ")), (
            f"unmarked {fence['language']} block after: {preceding!r}"
        )


def test_the_guide_covers_every_route_of_the_openapi_document() -> None:
    # Given the committed OpenAPI document and the guide
    paths = json.loads(OPENAPI_DOC.read_text())["paths"]
    text = API_DOC.read_text()

    # Then each of its operations is named in the guide as METHOD /path
    methods = {"get", "post", "put", "patch", "delete"}
    missing = [
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method in item
        if method in methods and f"{method.upper()} {path}" not in text
    ]
    assert not missing, f"docs/api.md does not describe: {missing}"
