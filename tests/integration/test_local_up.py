"""``videojobs local up`` in the foreground, as a new user runs it: what it prints on start,
how quiet it is while jobs run, and the parameters that follow ``--emulator-speed``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from videojobs_local.local import DEFAULT_TEMPLATE, scaled_to_speed

pytestmark = pytest.mark.slow


def test_the_provider_rate_and_progress_refresh_follow_the_emulator_speed() -> None:
    # At the real provider's pace the template's defaults hold (20 a minute, every 5 s)
    assert scaled_to_speed(DEFAULT_TEMPLATE, 1.0) == {
        "ProviderRequestsPerMinute": "20",
        "ProgressRefreshSeconds": "5",
    }
    # Ten times faster: ten times the requests, progress refreshed every second at most
    assert scaled_to_speed(DEFAULT_TEMPLATE, 10.0) == {
        "ProviderRequestsPerMinute": "200",
        "ProgressRefreshSeconds": "1",
    }
    assert scaled_to_speed(DEFAULT_TEMPLATE, 2.5)["ProgressRefreshSeconds"] == "2"


def test_local_up_prints_where_to_go_and_stays_quiet_while_jobs_run(tmp_path: Path) -> None:
    # Given `videojobs local up` started in a directory, with status checks due at once (so
    # parked jobs time out into CheckStatus, which moto reports as a caught States.Timeout)
    command = [
        sys.executable,
        "-m",
        "videojobs_local.cli",
        "local",
        "up",
        "--api-port",
        "0",
        "--emulator-speed",
        "40",
        "--parameter-overrides",
        "FirstStatusCheckSeconds=0 PollIntervalSeconds=1 MaxPollIntervalSeconds=1",
    ]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    stack = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("w"),
        text=True,
        env=environment,
    )
    try:
        assert stack.stdout is not None
        banner = [stack.stdout.readline() for _ in range(6)]
        state = json.loads((tmp_path / ".local" / "stack.json").read_text())
        # Then it says where the API, its docs and the console are, and which key to use
        assert banner[0].startswith("videojobs local stack is up")
        shown = dict(
            line.split(None, 1) for line in banner[1:5] if not line.startswith("  API key")
        )
        assert shown["API"].strip() == state["api_url"]
        assert shown["docs"].strip() == state["docs_url"] == state["api_url"] + "/docs"
        assert shown["console"].strip() == state["console_url"]
        assert banner[4].split()[-1] == state["api_key"]
        assert state["console_url"].endswith("/console")
        with httpx.Client(
            base_url=state["api_url"],
            headers={"Authorization": f"Bearer {state['api_key']}"},
            timeout=30,
        ) as api:
            assert httpx.get(state["console_url"], timeout=10).status_code == 200
            # When three jobs run to the end
            ids = []
            for index in range(3):
                response = api.post("/videos", json={"prompt": f"shot {index}", "seconds": "4"})
                assert response.status_code == 200, response.text
                ids.append(response.json()["id"])
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                statuses = {api.get(f"/videos/{i}").json()["status"] for i in ids}
                if statuses == {"completed"}:
                    break
                time.sleep(0.5)
            assert statuses == {"completed"}
    finally:
        stack.send_signal(signal.SIGTERM)
        rest, _ = stack.communicate(timeout=60)
    # Then nothing but the banner and the stop note was printed: no INFO lines, no metrics,
    # no interpreter dumps (the default level is WARNING, one line per event)
    assert stack.returncode == 0
    assert rest.strip() == ""
    errors = (tmp_path / "stderr.log").read_text().splitlines()
    assert errors == ["starting the local stack (moto + emulator)...", "stopping..."], errors[:5]
    # And the state file is gone with the stack
    assert not (tmp_path / ".local" / "stack.json").exists()
