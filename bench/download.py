"""Benchmark: provider content streaming, ours against raw httpx on the same URL.

Starts the emulator in-process (or uses ``--emulator-url``), renders one video, pads it with an
MP4 ``free`` box so the download is ``--mib`` MiB, then alternates downloads of it:

- raw:     ``httpx.Client.stream(...).iter_raw()`` into a sink (the floor our client sits on);
- ours:    ``OpenAIVideosClient.stream_content(...).iter_chunks()`` into a sink, pieces passed
  through as they arrive (the default, and what the store step uses);
- chunked: the same with ``iter_chunks(--chunk-mib MiB)``, exact-size re-chunking.

Every download runs in a fresh subprocess so that its peak RSS is its own: the worker resets
the kernel's high-water mark (``/proc/self/clear_refs``) after its imports, then reports
``VmHWM - VmRSS(before)`` and the largest piece it was handed. Targets, checked on every run:

- ours >= 0.9 x raw throughput (medians);
- ours' peak RSS growth <= the largest piece it was handed + 32 MiB;
- chunked's peak RSS growth <= 2 x chunk size + 32 MiB (its throughput ratio is reported only).

Exits 1 when a target is missed.

    .venv/bin/python bench/download.py [--mib 512] [--runs 7] [--chunk-mib 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
KEY_ENV = "VIDEOJOBS_BENCH_PROVIDER_KEY"
RSS_SLACK = 32 * MiB
RATIO_TARGET = 0.9
MODES = ("raw", "ours", "chunked")


# --- worker: one download, in its own process ----------------------------------------------


def _proc_status_bytes(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Make VmHWM equal the current RSS (Linux ≥ 4.0); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    peak = _proc_status_bytes("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Progress:
    """A carriage-return progress line on a terminal; silent otherwise."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.enabled = sys.stderr.isatty()
        self.next_at = 0

    def update(self, done: int) -> None:
        if self.enabled and done >= self.next_at:
            self.next_at = done + 32 * MiB
            total = f"/{self.total // MiB}" if self.total else ""
            sys.stderr.write(f"\r    {self.label}: {done // MiB}{total} MiB")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def run_worker(args: argparse.Namespace) -> int:
    import httpx
    from pydantic import SecretStr

    from videojobs.adapters.providers.openai_videos import OpenAIVideosClient
    from videojobs.models.provider import ProviderConfig

    key = os.environ[KEY_ENV]
    url = f"{args.api_url}/videos/{args.video_id}/content"
    label = f"{args.worker} run {args.label}"
    received = largest = 0

    if args.worker == "raw":
        http = httpx.Client(timeout=httpx.Timeout(10.0, read=120.0))
        headers = {"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"}
        reset_ok = _reset_peak_rss()
        before = _proc_status_bytes("VmRSS") or _peak_rss_bytes()
        started = time.perf_counter()
        with http.stream("GET", url, params={"variant": "video"}, headers=headers) as response:
            response.raise_for_status()
            progress = _Progress(label, int(response.headers.get("content-length", 0)) or None)
            for piece in response.iter_raw():
                size = len(piece)
                received += size
                if size > largest:
                    largest = size
                progress.update(received)
        elapsed = time.perf_counter() - started
        http.close()
    else:
        chunk_size = args.chunk_size if args.worker == "chunked" else None
        client = OpenAIVideosClient(
            ProviderConfig(base_url=args.api_url, api_key=SecretStr(key), auth_style="bearer")
        )
        reset_ok = _reset_peak_rss()
        before = _proc_status_bytes("VmRSS") or _peak_rss_bytes()
        started = time.perf_counter()
        with client.stream_content(args.video_id, "video") as stream:
            progress = _Progress(label, stream.content_length)
            for piece in stream.iter_chunks(chunk_size):
                size = len(piece)
                received += size
                if size > largest:
                    largest = size
                progress.update(received)
            declared = stream.content_length
        elapsed = time.perf_counter() - started
        client.close()
        if declared is not None and declared != received:
            raise SystemExit(f"received {received} of {declared} bytes")
    progress.done()
    peak = _peak_rss_bytes()
    print(
        json.dumps(
            {
                "mode": args.worker,
                "bytes": received,
                "seconds": elapsed,
                "largest_piece": largest,
                "rss_growth": peak - before,
                "peak_reset": reset_ok,
            }
        )
    )
    return 0


# --- driver --------------------------------------------------------------------------------


def _emulator(args: argparse.Namespace) -> AbstractContextManager[Any]:
    if args.emulator_url:
        return nullcontext(None)
    from videojobs_local.emulator import EmulatorConfig, EmulatorServer

    return EmulatorServer(EmulatorConfig(api_key=args.api_key, speed=1000.0))


def _prepare_video(api_url: str, key: str) -> str:
    from pydantic import SecretStr

    from videojobs.adapters.providers.openai_videos import OpenAIVideosClient
    from videojobs.models.provider import CreateVideoRequest, ProviderConfig

    config = ProviderConfig(base_url=api_url, api_key=SecretStr(key))
    with OpenAIVideosClient(config) as client:
        video = client.create(CreateVideoRequest(prompt="benchmark: a slow pan over a harbour"))
        deadline = time.monotonic() + 300
        while not video.status.is_terminal:
            if time.monotonic() > deadline:
                raise SystemExit(f"{video.id} did not complete in time")
            retrieved = client.retrieve(video.id)
            video = retrieved.video
            time.sleep(min((retrieved.poll_after_ms or 200) / 1000, 1.0))
        if video.status != "completed":
            raise SystemExit(f"{video.id} ended {video.status}: {video.error}")
        return video.id


def _plain_size(api_url: str, key: str, video_id: str) -> int:
    import httpx

    with httpx.stream(
        "GET",
        f"{api_url}/videos/{video_id}/content",
        params={"variant": "video"},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        response.raise_for_status()
        return int(response.headers["content-length"])


def _measure(
    mode: str, label: str, api_url: str, video_id: str, key: str, chunk_size: int
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        mode,
        "--api-url",
        api_url,
        "--video-id",
        video_id,
        "--chunk-size",
        str(chunk_size),
        "--label",
        label,
    ]
    env = {**os.environ, KEY_ENV: key}
    done = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True)  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _schedule(runs: int) -> Iterator[str]:
    # ABC CBA order, so a warming or cooling machine does not favour one mode.
    for index in range(runs):
        yield from MODES if index % 2 == 0 else reversed(MODES)


def run_driver(args: argparse.Namespace) -> int:
    import httpx

    chunk_size = args.chunk_mib * MiB
    target_bytes = args.mib * MiB
    with ExitStack() as stack:
        server = stack.enter_context(_emulator(args))
        root = (args.emulator_url or server.url).rstrip("/")
        api_url = root + "/v1"
        admin = stack.enter_context(httpx.Client(base_url=root + "/_emulator", timeout=30.0))

        print(f"emulator: {root}", flush=True)
        print("rendering the source video...", flush=True)
        video_id = _prepare_video(api_url, args.api_key)
        previous_padding = admin.get("/config").json().get("video_padding_bytes", 0)
        admin.post("/config", json={"video_padding_bytes": 0}).raise_for_status()
        plain = _plain_size(api_url, args.api_key, video_id)
        padding = max(8, target_bytes - plain)
        admin.post("/config", json={"video_padding_bytes": padding}).raise_for_status()
        stack.callback(
            lambda: admin.post("/config", json={"video_padding_bytes": previous_padding})
        )
        total = plain + padding
        print(
            f"body: {total / MiB:.1f} MiB ({plain} bytes of MP4 + {padding} bytes of free box); "
            f"chunk {args.chunk_mib} MiB; {args.runs} runs each",
            flush=True,
        )

        results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        schedule = list(_schedule(args.runs))
        for step, mode in enumerate(schedule, start=1):
            label = f"{len(results[mode]) + 1}/{args.runs}"
            result = _measure(mode, label, api_url, video_id, args.api_key, chunk_size)
            if result["bytes"] != total:
                raise SystemExit(f"{mode}: {result['bytes']} bytes instead of {total}")
            results[mode].append(result)
            rate = result["bytes"] / MiB / result["seconds"]
            print(
                f"  [{step}/{len(schedule)}] {mode:7} {label}: {rate:7.1f} MiB/s, "
                f"peak RSS +{result['rss_growth'] / MiB:.1f} MiB, "
                f"largest piece {result['largest_piece'] / 1024:.0f} KiB",
                flush=True,
            )

    def median_rate(mode: str) -> float:
        return float(statistics.median(r["bytes"] / MiB / r["seconds"] for r in results[mode]))

    def worst(mode: str, field: str) -> int:
        return max(int(r[field]) for r in results[mode])

    rates = {mode: median_rate(mode) for mode in MODES}
    ours_ratio = rates["ours"] / rates["raw"]
    chunked_ratio = rates["chunked"] / rates["raw"]
    # Each pass-through run is held to its own largest piece: that is all it may keep.
    ours_ok = all(r["rss_growth"] <= r["largest_piece"] + RSS_SLACK for r in results["ours"])
    ours_bound = worst("ours", "largest_piece") + RSS_SLACK
    chunked_bound = 2 * chunk_size + RSS_SLACK
    chunked_ok = worst("chunked", "rss_growth") <= chunked_bound
    ratio_ok = ours_ratio >= RATIO_TARGET
    exact = all(r["peak_reset"] for rs in results.values() for r in rs)

    verdict = {True: "ok", False: "MISSED"}
    names = {
        "raw": "raw httpx iter_raw()",
        "ours": "ours iter_chunks()",
        "chunked": f"ours iter_chunks({args.chunk_mib} MiB)",
    }
    lines = [
        "",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    ]
    for mode in MODES:
        lines.append(
            f"{names[mode]:26} median {rates[mode]:8.1f} MiB/s   "
            f"peak RSS +{worst(mode, 'rss_growth') / MiB:.1f} MiB   "
            f"largest piece {worst(mode, 'largest_piece') / 1024:.0f} KiB"
        )
    lines += [
        f"ratio ours/raw             {ours_ratio:.3f} (target >= {RATIO_TARGET}): "
        f"{verdict[ratio_ok]}",
        f"ratio chunked/raw          {chunked_ratio:.3f} (informational)",
        f"ours peak RSS growth       {worst('ours', 'rss_growth') / MiB:.1f} MiB (bound largest "
        f"piece + 32 MiB = {ours_bound / MiB:.1f} MiB): {verdict[ours_ok]}",
        f"chunked peak RSS growth    {worst('chunked', 'rss_growth') / MiB:.1f} MiB (bound "
        f"2 x {args.chunk_mib} MiB + 32 MiB = {chunked_bound / MiB:.0f} MiB): "
        f"{verdict[chunked_ok]}",
    ]
    print("\n".join(lines))
    if not exact:
        print("note: /proc/self/clear_refs unavailable; RSS growth is a ru_maxrss delta")
    return 0 if ratio_ok and ours_ok and chunked_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=512, help="download size in MiB (default 512)")
    parser.add_argument("--runs", type=int, default=7, help="downloads per side (default 7)")
    parser.add_argument(
        "--chunk-mib", type=int, default=8, help="chunk size of the chunked mode (default 8)"
    )
    parser.add_argument("--emulator-url", help="use a running emulator (its root URL)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("EMULATOR_API_KEY", "sk-emulator"),
        help="the emulator's API key (default $EMULATOR_API_KEY or sk-emulator)",
    )
    # Internal: one measured download in this process.
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--video-id", help=argparse.SUPPRESS)
    parser.add_argument("--chunk-size", type=int, default=8 * MiB, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args)
    if args.mib < 1 or args.runs < 1 or args.chunk_mib < 1:
        parser.error("--mib, --runs and --chunk-mib must be positive")
    return run_driver(args)


if __name__ == "__main__":
    sys.exit(main())
