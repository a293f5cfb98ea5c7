"""The ``videojobs`` command: run the local stack, run the demo, talk to the API."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from videojobs_local import cli_client, cli_keys

DEFAULT_STATE_FILE = ".local/stack.json"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.chmod(0o600)  # it holds API keys
    partial.replace(path)


def cmd_local_up(args: argparse.Namespace) -> int:
    """Run the local stack in the foreground until SIGTERM / Ctrl-C."""
    from videojobs_local.local import run_local
    from videojobs_local.stack.template import parse_parameter_overrides

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # One line per HTTP request from three servers drowns everything else.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    overrides = parse_parameter_overrides(args.parameter_overrides)
    overrides.setdefault("LogLevel", args.log_level)
    state_file = Path(args.state_file)
    print("starting the local stack (moto + emulator)...", file=sys.stderr)
    with run_local(
        api_port=args.api_port,
        emulator_speed=args.emulator_speed,
        parameter_overrides=overrides,
        template=Path(args.template),
    ) as local:
        _write_state(state_file, local.state())
        print(
            f"videojobs is serving at {local.api_url} (state: {state_file}); Ctrl-C stops it.",
            file=sys.stderr,
        )
        stop.wait()
        print("stopping...", file=sys.stderr)
    state_file.unlink(missing_ok=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the stack, run one job as a user would, save the MP4, stop the stack."""
    import subprocess

    from videojobs_local.client import Endpoint, VideojobsClient
    from videojobs_local.progress import ProgressBar

    out_dir = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="videojobs-demo-") as tmp:
        state_file = Path(tmp) / "stack.json"
        command = [
            sys.executable,
            "-m",
            "videojobs_local.cli",
            "local",
            "up",
            "--api-port",
            str(args.api_port),
            "--state-file",
            str(state_file),
            "--emulator-speed",
            str(args.emulator_speed),
            "--log-level",
            "INFO",
            # Provider time runs faster here, so progress is refreshed proportionally more often.
            "--parameter-overrides",
            "ProgressRefreshSeconds=1",
        ]
        log_path = Path(args.log_file)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"starting the local stack (log: {log_path})...", file=sys.stderr)
        log = log_path.open("w")
        # Our own module with fixed arguments.
        stack = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            deadline = time.monotonic() + 120
            while not state_file.exists():
                if stack.poll() is not None:
                    print(f"the local stack failed to start; see {log_path}", file=sys.stderr)
                    return 1
                if time.monotonic() > deadline:
                    print("the local stack did not come up within 120 s", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            endpoint = Endpoint.from_state_file(state_file)
            body = {
                "prompt": args.prompt,
                "model": args.model,
                "seconds": args.seconds,
                "size": args.size,
            }
            with VideojobsClient(endpoint) as client:
                job = client.create(body)
                print(f"submitted {job['id']} ({args.size}, {args.seconds} s)", file=sys.stderr)
                bar = ProgressBar(job["id"])
                try:
                    job = client.wait(
                        job["id"],
                        interval=0.5,
                        timeout=args.timeout,
                        on_update=lambda j: bar.update(int(j.get("progress") or 0), j["status"]),
                    )
                finally:
                    bar.close()
                if job["status"] != "completed":
                    print(json.dumps(job, indent=2))
                    return 1
                target = out_dir / f"{job['id']}.mp4"
                size = client.download(job["id"], target)
                print(f"saved {target} ({size} bytes)", file=sys.stderr)
                final = client.get(job["id"])
                final.pop("assets", None)  # presigned URLs: long and short-lived
                print(json.dumps(final, indent=2))
        finally:
            stack.send_signal(signal.SIGTERM)
            try:
                stack.wait(timeout=60)
            except subprocess.TimeoutExpired:
                stack.kill()
            log.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videojobs", description="Durable video-generation jobs for the OpenAI Videos API."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local stack (moto + emulator)")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="run the local stack until Ctrl-C")
    up.add_argument("--api-port", type=int, default=3000)
    up.add_argument(
        "-t",
        "--template",
        default=str(DEFAULT_TEMPLATE),
        help="the SAM template to run (default: the project's template.yaml); paths in it "
        "(CodeUri, DefinitionUri) are relative to its directory, as with sam -t",
    )
    up.add_argument("--state-file", default=DEFAULT_STATE_FILE)
    up.add_argument(
        "--emulator-speed",
        type=float,
        default=1.0,
        help="provider time scale: 1 is realistic (minutes per video), 10 is ten times faster",
    )
    up.add_argument(
        "--parameter-overrides",
        default=None,
        help='template parameters, like SAM: "MaxConcurrentJobs=3 PollIntervalSeconds=2"',
    )
    up.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="handler log level (the LogLevel template parameter); default WARNING",
    )
    up.set_defaults(func=cmd_local_up)

    demo = commands.add_parser("demo", help="run one job end to end on the local stack")
    demo.add_argument("--out", default="videos")
    demo.add_argument("--api-port", type=int, default=0)
    demo.add_argument("--emulator-speed", type=float, default=8.0)
    demo.add_argument(
        "--prompt",
        default="A paper boat drifting down a rain-soaked street at dusk, cinematic, 35mm",
    )
    demo.add_argument("--model", default="sora-2")
    demo.add_argument("--seconds", default="4")
    demo.add_argument("--size", default="1280x720")
    demo.add_argument("--timeout", type=float, default=150.0)
    demo.add_argument("--log-file", default=".local/demo-stack.log")
    demo.set_defaults(func=cmd_demo)

    cli_keys.register(commands)
    cli_client.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
