"""``python -m videojobs_local.emulator``: run the provider emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from .config import EmulatorConfig, default_cache_dir
from .server import EmulatorServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m videojobs_local.emulator",
        description="Emulate the OpenAI Videos API (Sora 2) locally.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="time multiplier; 1 = realistic timings"
    )
    parser.add_argument("--api-key", default="sk-emulator")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument(
        "--webhook-secret", default=None, help="whsec_<base64>; generated when omitted"
    )
    parser.add_argument("--download-ttl", type=float, default=3600.0, help="seconds")
    parser.add_argument("--padding-bytes", type=int, default=0, help="video_padding_bytes")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    config = EmulatorConfig(
        api_key=args.api_key,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        speed=args.speed,
        download_ttl_seconds=args.download_ttl,
        video_padding_bytes=args.padding_bytes,
        render_cache_dir=args.cache_dir or default_cache_dir(),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with EmulatorServer(config, host=args.host, port=args.port) as server:
        # Printed, not logged: the operator needs the URL and the generated secret to
        # configure a webhook receiver, and logs may be shipped elsewhere.
        print(f"emulator API: {server.api_url}  (admin: {server.url}/_emulator/)", flush=True)
        if args.webhook_secret is None:
            print(f"webhook secret: {server.config.webhook_secret}", flush=True)
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
