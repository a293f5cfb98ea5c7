"""The consumer CLI (``videojobs submit|get|list|wait|download|remix|cancel|delete|batch``)
run in-process against the local stack, as a user would run it with the state file of
``local up``."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx
import pytest
from pipeline_support import wait_for_job

from videojobs_local.cli import main
from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def state_file(running_service: LocalVideojobs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "stack.json"
    path.write_text(json.dumps(running_service.state()))
    return path


@pytest.fixture(autouse=True)
def no_endpoint_in_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    monkeypatch.delenv("VIDEOJOBS_API_URL", raising=False)
    monkeypatch.delenv("VIDEOJOBS_API_KEY", raising=False)
    # Nor a .local/stack.json in the working directory or above it.
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    yield


class ThisThreadOnly(io.TextIOBase):
    """A stream keeping what the calling thread writes, passing other threads' writes on.

    The stack's handlers run in this process, on their own threads, and print their logs
    and metrics to the same ``sys.stdout``; only the CLI's own output is wanted here.
    """

    def __init__(self, others: TextIO, *, tty: bool = False) -> None:
        self.kept = io.StringIO()
        self.others = others
        self.thread = threading.get_ident()
        self.tty = tty

    def write(self, text: str) -> int:
        target = self.kept if threading.get_ident() == self.thread else self.others
        return target.write(text)

    def flush(self) -> None:
        self.others.flush()

    def isatty(self) -> bool:
        return self.tty


class Cli:
    """Runs ``videojobs`` in-process and returns (exit status, stdout, stderr)."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file

    def raw(self, *args: str, tty: bool = False) -> tuple[int, str, str]:
        """``tty``: stdout is a terminal (tables instead of JSON)."""
        out, err = ThisThreadOnly(sys.stdout, tty=tty), ThisThreadOnly(sys.stderr)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(args))
        return status, out.kept.getvalue(), err.kept.getvalue()

    def __call__(self, *args: str, tty: bool = False) -> tuple[int, str, str]:
        """With the state file of the running stack."""
        return self.raw(*args, "--state-file", str(self.state_file), tty=tty)

    def json(self, *args: str) -> Any:
        status, out, err = self(*args)
        assert status == 0, err
        return json.loads(out)


@pytest.fixture
def cli(service: LocalVideojobs, state_file: Path) -> Cli:
    return Cli(state_file)


def test_submit_wait_out_saves_a_playable_file(cli: Cli, tmp_path: Path) -> None:
    # When a job is submitted and waited for, with an output directory
    status, out, err = cli(
        "submit",
        "a lighthouse in a storm",
        "--seconds",
        "4",
        "--size",
        "1280x720",
        "--metadata",
        "shot=1",
        "--metadata",
        "take=2",
        "--wait",
        "--interval",
        "0.2",
        "--out",
        str(tmp_path),
    )
    # Then it exits 0 printing the finished job as JSON
    assert status == 0, err
    job = json.loads(out)
    assert job["status"] == "completed"
    assert (job["size"], job["seconds"]) == ("1280x720", "4")
    assert job["metadata"] == {"shot": "1", "take": "2"}
    # And the progress went to stderr, ending at 100 %
    assert job["id"] in err and "100%" in err
    # And the MP4 is in the directory
    video = tmp_path / f"{job['id']}.mp4"
    assert video.read_bytes()[4:8] == b"ftyp"
    assert f"saved {video}" in err


def test_get_and_list_print_json(cli: Cli, api: httpx.Client) -> None:
    # Given a submitted job
    submitted = cli.json("submit", "a kite over dunes", "--preset", "tiktok")
    assert submitted["status"] == "queued"
    assert submitted["size"] == "720x1280"
    # When it is shown and listed
    shown = cli.json("get", submitted["id"])
    listed = cli.json("list", "--limit", "5")
    # Then both are the API's JSON
    assert shown["id"] == submitted["id"]
    assert listed["object"] == "list"
    assert submitted["id"] in [j["id"] for j in listed["data"]]
    wait_for_job(api, submitted["id"])
    completed = cli.json("list", "--status", "completed", "--limit", "100")
    assert submitted["id"] in [j["id"] for j in completed["data"]]
    assert {j["status"] for j in completed["data"]} == {"completed"}


def test_wait_draws_progress_and_prints_the_result(cli: Cli) -> None:
    submitted = cli.json("submit", "a slow sunrise")
    status, out, err = cli("wait", submitted["id"], "--interval", "0.2")
    assert status == 0, err
    assert json.loads(out)["status"] == "completed"
    assert f"{submitted['id']} [" in err


def test_download_all_variants(cli: Cli, api: httpx.Client, tmp_path: Path) -> None:
    # Given a completed job
    submitted = cli.json("submit", "a fox in snow")
    wait_for_job(api, submitted["id"])
    # When all of its files are downloaded
    saved = cli.json("download", submitted["id"], "--variant", "all", "--out", str(tmp_path))
    # Then the video, thumbnail and spritesheet are on disk with the sizes reported
    assert [s["variant"] for s in saved] == ["video", "thumbnail", "spritesheet"]
    for entry in saved:
        path = Path(entry["path"])
        assert path.parent == tmp_path
        assert path.stat().st_size == entry["bytes"] > 0
    assert Path(saved[1]["path"]).read_bytes()[8:12] == b"WEBP"


def test_cancel_stops_a_running_job_and_keeps_it_until_deleted(
    cli: Cli, service: LocalVideojobs
) -> None:
    # Given a job the provider takes minutes to render
    service.emulator.update_config(speed=1.0)
    submitted = cli.json("submit", "a very long take")
    # When it is cancelled
    cancelled = cli.json("cancel", submitted["id"])
    # Then it is cancelled, and still there
    assert (cancelled["id"], cancelled["status"]) == (submitted["id"], "cancelled")
    assert cli.json("get", submitted["id"])["status"] == "cancelled"
    # And deleting it (no question for a video that never completed) removes it
    deleted = cli.json("delete", submitted["id"])
    assert deleted["deleted"] is True
    status, out, err = cli("get", submitted["id"])
    assert (status, out) == (1, "")
    assert err.startswith("error: HTTP 404")
    assert err.count("\n") == 1


def test_cancel_of_a_completed_video_changes_nothing(cli: Cli, api: httpx.Client) -> None:
    # Given a completed video
    submitted = cli.json("submit", "a calm lake")
    wait_for_job(api, submitted["id"])
    # When it is "cancelled" on a terminal
    status, out, err = cli("cancel", submitted["id"], tty=True)
    # Then the CLI says nothing was cancelled, and the video and its files are still there
    assert status == 0, err
    assert out.strip() == f"{submitted['id']} had already ended (completed); nothing was cancelled."
    assert api.get(f"/videos/{submitted['id']}").json()["status"] == "completed"
    assert api.get(f"/videos/{submitted['id']}/content").status_code == 302


def test_deleting_a_completed_video_asks_unless_yes(cli: Cli, api: httpx.Client) -> None:
    # Given a completed video
    submitted = cli.json("submit", "a harbour at dawn")
    wait_for_job(api, submitted["id"])
    # When it is deleted with nobody at a terminal to answer the question
    status, out, err = cli("delete", submitted["id"])
    # Then nothing is deleted, and the CLI says how to go on
    assert (status, out) == (1, "")
    assert "--yes" in err and err.count("\n") == 1
    assert api.get(f"/videos/{submitted['id']}").status_code == 200
    # And with --yes it is deleted
    status, out, err = cli("delete", submitted["id"], "--yes", tty=True)
    assert (status, out) == (0, f"deleted {submitted['id']}\n"), err
    assert api.get(f"/videos/{submitted['id']}").status_code == 404


def test_on_a_terminal_get_and_list_print_tables_without_links(cli: Cli, api: httpx.Client) -> None:
    # Given a completed video, and one waiting
    done = cli.json("submit", "a red lighthouse", "--size", "1280x720")
    wait_for_job(api, done["id"])
    # When it is shown and listed on a terminal
    _, shown, _ = cli("get", done["id"], tty=True)
    _, listed, _ = cli("list", "--limit", "3", tty=True)
    # Then a person reads fields and rows, not JSON with presigned URLs
    assert not shown.lstrip().startswith("{") and "X-Amz" not in shown and "http" not in shown
    fields = dict(line.split(None, 1) for line in shown.strip().splitlines())
    assert fields["id"] == done["id"]
    assert fields["status"] == "completed"
    assert fields["size"] == "1280x720"
    assert fields["files"].startswith("spritesheet, thumbnail, video")
    header, *rows = listed.strip().splitlines()
    assert header.split()[:4] == ["ID", "STATUS", "PROGRESS", "SIZE"]
    assert rows[0].split()[:3] == [done["id"], "completed", "100%"]
    assert "X-Amz" not in listed
    # And --json still gives the API's JSON on a terminal
    _, as_json, _ = cli("get", done["id"], "--json", tty=True)
    assert json.loads(as_json)["id"] == done["id"]


def test_remix_of_a_completed_video(cli: Cli, api: httpx.Client) -> None:
    source = cli.json("submit", "a paper boat", "--size", "1280x720")
    wait_for_job(api, source["id"])
    remix = cli.json("remix", source["id"], "the same boat at night", "--wait", "--interval", "0.2")
    assert remix["status"] == "completed"
    assert remix["remixed_from_video_id"] == source["id"]
    assert remix["size"] == "1280x720"


def test_submit_with_an_input_reference_image(cli: Cli, tmp_path: Path) -> None:
    from PIL import Image

    # Given a first frame of the video's size
    frame = tmp_path / "first.png"
    Image.new("RGB", (1280, 720), "steelblue").save(frame)
    # When it is submitted with it, and waited for
    job = cli.json(
        "submit",
        "the camera pulls back from a calm sea",
        "--size",
        "1280x720",
        "--seconds",
        "4",
        "--input-reference",
        str(frame),
        "--metadata",
        "shot=1",
        "--wait",
        "--interval",
        "0.2",
    )
    # Then the video was made (the API checked the image's size and type)
    assert (job["status"], job["size"], job["metadata"]) == ("completed", "1280x720", {"shot": "1"})
    # And an image of another size is refused by the API, naming the field
    Image.new("RGB", (640, 360), "steelblue").save(frame)
    status, _, err = cli("submit", "x", "--size", "1280x720", "--input-reference", str(frame))
    assert status == 1 and "(param: input_reference)" in err


def test_the_state_file_of_local_up_is_found_from_where_it_runs(
    cli: Cli, state_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the directory `videojobs local up` runs in, and a folder inside it
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text(state_file.read_text())
    (tmp_path / "shots").mkdir()
    monkeypatch.chdir(tmp_path / "shots")
    # When a command is run there without --state-file or environment
    status, out, err = cli.raw("list", "--limit", "1")
    # Then it talks to that stack
    assert status == 0, err
    assert json.loads(out)["object"] == "list"


def test_batch_submit_of_a_jsonl_file_waits_and_saves(
    cli: Cli, tmp_path: Path, api: httpx.Client
) -> None:
    # Given a JSON Lines file of two create bodies
    batch_file = tmp_path / "shots.jsonl"
    batch_file.write_text('{"prompt": "shot one"}\n{"prompt": "shot two", "size": "1280x720"}\n')
    out_dir = tmp_path / "videos"
    # When it is submitted as a batch and waited for
    status, out, err = cli(
        "batch",
        "submit",
        str(batch_file),
        "--metadata",
        "campaign=cli",
        "--wait",
        "--interval",
        "0.2",
        "--out",
        str(out_dir),
    )
    # Then the completed batch is printed and every video saved
    assert status == 0, err
    batch = json.loads(out)
    assert batch["status"] == "completed"
    assert batch["counts"]["completed"] == 2
    assert batch["metadata"] == {"campaign": "cli"}
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{job_id}.mp4" for job_id in batch["job_ids"]
    )
    # And the batch can be shown and its jobs listed
    assert cli.json("batch", "get", batch["id"])["job_ids"] == batch["job_ids"]
    listed = cli.json("list", "--batch", batch["id"])
    assert sorted(j["id"] for j in listed["data"]) == sorted(batch["job_ids"])


def test_batch_submit_of_a_campaign_body(cli: Cli, tmp_path: Path) -> None:
    batch_file = tmp_path / "campaign.json"
    batch_file.write_text(json.dumps({"brief": "a new bike", "presets": ["youtube", "tiktok"]}))
    batch = cli.json("batch", "submit", str(batch_file))
    assert (batch["total"], batch["status"]) == (2, "in_progress")
    done = cli.json("batch", "wait", batch["id"], "--interval", "0.2")
    assert done["counts"]["completed"] == 2


def test_a_batch_s_videos_are_saved_under_their_presets(cli: Cli, tmp_path: Path) -> None:
    # Given a batch with one video per preset, and requests naming presets (one twice)
    campaign = tmp_path / "campaign.json"
    campaign.write_text(
        json.dumps({"brief": "a new bike", "presets": ["tiktok", "youtube"], "seconds": "4"})
    )
    shots = tmp_path / "shots.jsonl"
    shots.write_text(
        '{"prompt": "a", "preset": "tiktok", "seconds": "4"}\n'
        '{"prompt": "b", "preset": "tiktok", "seconds": "4"}\n{"prompt": "c"}\n'
    )
    # When both are submitted with --out
    for source, out in ((campaign, "campaign"), (shots, "shots")):
        status, _, err = cli(
            "batch", "submit", str(source), "--out", str(tmp_path / out), "--interval", "0.2"
        )
        assert status == 0, err
    # Then the files are named by preset, numbered when a preset repeats, by id without one
    assert sorted(p.name for p in (tmp_path / "campaign").iterdir()) == [
        "tiktok.mp4",
        "youtube.mp4",
    ]
    names = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert names[:2] == ["tiktok-2.mp4", "tiktok.mp4"]
    assert names[2].startswith("video_") and len(names) == 3


def test_an_api_error_is_one_line_with_status_and_param(cli: Cli) -> None:
    # When the API refuses the request
    status, out, err = cli("submit", "a boat", "--seconds", "7")
    # Then the CLI says why on one line, naming the field, and exits 1
    assert status == 1
    assert out == ""
    assert err.startswith("error: HTTP 400 invalid_request_error: ")
    assert err.rstrip().endswith("(param: seconds)")
    assert err.count("\n") == 1


def test_a_batch_error_names_the_element(cli: Cli, tmp_path: Path) -> None:
    batch_file = tmp_path / "bad.jsonl"
    batch_file.write_text('{"prompt": "fine"}\n{"prompt": "bad", "seconds": "7"}\n')
    status, _, err = cli("batch", "submit", str(batch_file))
    assert status == 1
    assert "(param: requests[1].seconds)" in err


def test_an_unreadable_batch_file_is_reported(cli: Cli, tmp_path: Path) -> None:
    status, _, err = cli("batch", "submit", str(tmp_path / "missing.jsonl"))
    assert status == 1
    assert err.startswith("error: cannot read")


def test_the_endpoint_can_come_from_the_environment(
    cli: Cli, service: LocalVideojobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the API URL and key in the environment, and no state file
    monkeypatch.setenv("VIDEOJOBS_API_URL", service.api_url)
    monkeypatch.setenv("VIDEOJOBS_API_KEY", service.api_key)
    # When jobs are listed
    status, out, err = cli.raw("list", "--limit", "1")
    # Then it works as with the state file
    assert status == 0, err
    assert json.loads(out)["object"] == "list"


def test_without_an_endpoint_the_cli_says_what_to_set(cli: Cli) -> None:
    status, out, err = cli.raw("get", "video_" + "0" * 32)
    assert (status, out) == (1, "")
    assert "VIDEOJOBS_API_URL" in err and "--state-file" in err and "local up" in err


def test_a_wrong_key_is_reported_without_echoing_it(
    cli: Cli, service: LocalVideojobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOJOBS_API_URL", service.api_url)
    monkeypatch.setenv("VIDEOJOBS_API_KEY", "sk-wrong-key-123")
    status, _, err = cli.raw("list")
    assert status == 1
    assert err.startswith("error: HTTP 401")
    assert "sk-wrong-key-123" not in err


def test_an_unreachable_api_is_reported(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOJOBS_API_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("VIDEOJOBS_API_KEY", "sk-any")
    status, _, err = cli.raw("get", "video_" + "0" * 32)
    assert status == 1
    assert err.startswith("error: cannot reach http://127.0.0.1:9/v1")


def test_models_and_a_looping_luma_clip_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    # Given the models the deployment serves
    served = [model["id"] for model in cli.json("models")["data"]]
    assert "luma.ray-v2:0" in served
    # When a looping Luma clip is submitted, waited for and saved
    job = cli.json(
        "submit",
        "a carousel at night",
        "--model",
        "luma.ray-v2:0",
        "--seconds",
        "5",
        "--size",
        "540x540",
        "--loop",
        "--wait",
        "--interval",
        "0.2",
        "--out",
        str(tmp_path),
    )
    # Then it completed at the size asked for, and the file is there
    assert (job["status"], job["model"], job["size"], job["seconds"]) == (
        "completed",
        "luma.ray-v2:0",
        "540x540",
        "5",
    )
    assert (tmp_path / f"{job['id']}.mp4").stat().st_size > 0


def test_a_length_the_model_cannot_make_is_refused_by_the_cli_naming_seconds(cli: Cli) -> None:
    status, _, err = cli("submit", "a kite", "--model", "amazon.nova-reel-v1:1", "--seconds", "8")
    assert status != 0
    assert "seconds" in err
