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
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from videojobs_local import cli_client, cli_keys, cli_status

DEFAULT_STATE_FILE = ".local/stack.json"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.chmod(0o600)  # it holds API keys
    partial.replace(path)


class _OneLine(logging.Filter):
    """One line per event: no tracebacks, no multi-line or kilobyte-long messages.

    moto's Step Functions interpreter logs every caught error with the whole state's
    description; a ``States.Timeout`` there is how a parked job's poll interval ends (the
    state machine catches it and checks the job's status), so it is not reported at all.
    """

    MAX_CHARS = 300

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name.startswith("moto.stepfunctions"):
            if "Error=States.Timeout" in message:
                return False
            message = message.split(" at '(", 1)[0]
        message = " ".join(message.split())
        if len(message) > self.MAX_CHARS:
            message = message[: self.MAX_CHARS] + " ..."
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"[:200]
        record.msg, record.args = message, None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def _quiet_logging(level: str) -> None:
    """What ``local up`` prints in the foreground: ``level`` and above, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_OneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per HTTP request from three servers drowns everything else.
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, root.level))
    # Powertools' note when an invocation recorded no metric: expected for most requests.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def _started_banner(local: Any, state_file: Path) -> str:
    state = local.state()
    return "\n".join(
        [
            "videojobs local stack is up; Ctrl-C stops it.",
            f"  API      {state['api_url']}",
            f"  docs     {state['docs_url']}",
            f"  console  {state['console_url']}",
            f"  API key  {state['api_key']}",
            f"  state    {state_file}",
        ]
    )


def cmd_local_up(args: argparse.Namespace) -> int:
    """Run the local stack in the foreground until SIGTERM / Ctrl-C."""
    from videojobs_local.local import run_local
    from videojobs_local.stack import AwsFaults
    from videojobs_local.stack.template import parse_parameter_overrides

    try:
        aws_faults = AwsFaults.from_percent(
            args.aws_fault_percent, kinds=args.aws_fault_kinds, seed=args.aws_fault_seed
        )
    except ValueError as exc:
        print(f"videojobs local up: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    _quiet_logging(args.log_level)
    overrides = parse_parameter_overrides(args.parameter_overrides)
    overrides.setdefault("LogLevel", args.log_level)
    # Metrics are CloudWatch EMF lines on stdout: noise in a terminal, shown only for DEBUG.
    metrics = {} if args.log_level == "DEBUG" else {"POWERTOOLS_METRICS_DISABLED": "true"}
    state_file = Path(args.state_file)
    print("starting the local stack (moto + emulator)...", file=sys.stderr)
    with run_local(
        api_port=args.api_port,
        emulator_speed=args.emulator_speed,
        parameter_overrides=overrides,
        function_environment=metrics,
        template=Path(args.template),
        aws_faults=aws_faults,
    ) as local:
        _write_state(state_file, local.state())
        print(_started_banner(local, state_file), flush=True)
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


def _percent(value: str) -> float:
    percent = float(value)
    if not 0 <= percent <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not a percentage between 0 and 100")
    return percent


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
        help="provider time scale: 1 is realistic (minutes per video), 10 is ten times faster; "
        "the provider request rate and the progress refresh follow it unless overridden",
    )
    up.add_argument(
        "--parameter-overrides",
        default=None,
        help='template parameters, like SAM: "MaxConcurrentJobs=3 PollIntervalSeconds=2"',
    )
    up.add_argument(
        "--log-level",
        default="WARN",
        choices=["DEBUG", "INFO", "WARN", "ERROR"],
        help="handler log level (the LogLevel template parameter); default WARN",
    )
    up.add_argument(
        "--aws-fault-percent",
        type=_percent,
        default=0.0,
        help="share of Lambda invokes from the state machine and of DynamoDB requests that meet "
        "an AWS-side fault (throttle, crash, timeout), in %%; default 0",
    )
    up.add_argument(
        "--aws-fault-kinds",
        default=None,
        help="comma-separated fault kinds: lambda_throttle, lambda_crash, lambda_timeout, "
        "dynamodb_throttle (default: all)",
    )
    up.add_argument(
        "--aws-fault-seed", type=int, default=0, help="seed of the AWS-side faults (default 0)"
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
    cli_status.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
