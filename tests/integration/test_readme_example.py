"""The README's SDK example, run as a reader would run it against the local stack: it makes
and saves a video, and prints no warning (the one it silences really is the SDK's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from videojobs_local.local import LocalVideojobs

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
SILENCER = re.compile(r"^warnings\.filterwarnings\(.*\)\n", re.MULTILINE)


def sdk_example() -> str:
    section = README.read_text().split("## Using the API", 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0] + "\n"


def run(code: str, service: LocalVideojobs, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "API_URL": service.api_url, "API_KEY": service.api_key}
    return subprocess.run(  # noqa: S603 (this interpreter, the README's code)
        [sys.executable, "-c", code],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_sdk_example_saves_a_video_without_warning_noise(
    service: LocalVideojobs, tmp_path: Path
) -> None:
    code = sdk_example()
    # When the example runs
    done = run(code, service, tmp_path)
    # Then it saved the video and printed nothing on stderr
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "boat.mp4").read_bytes()[4:8] == b"ftyp"
    assert done.stderr == ""
    # And without its warnings filter, the SDK's Sora deprecation is what would be printed
    (tmp_path / "noisy").mkdir()
    noisy = run(SILENCER.sub("", code, count=1), service, tmp_path / "noisy")
    assert noisy.returncode == 0, noisy.stderr
    assert "DeprecationWarning: The Sora API" in noisy.stderr
