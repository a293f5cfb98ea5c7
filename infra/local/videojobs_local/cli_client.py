"""``videojobs submit|get|list|wait|download|remix|cancel|delete|batch|usage``: the API from
a terminal.

The endpoint comes from ``--state-file``, from ``VIDEOJOBS_API_URL`` and
``VIDEOJOBS_API_KEY``, or from the ``.local/stack.json`` that ``videojobs local up`` writes in
the directory it runs in (found from here or a parent). Results go to stdout, as a readable
table on a terminal and as JSON with ``--json`` or when stdout is a pipe or a file; progress
and notes go to stderr, and an API error is one line on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from videojobs_local.client import TERMINAL, ApiError, Endpoint, VideojobsClient
from videojobs_local.progress import ProgressBar
from videojobs_local.tables import render_batch, render_job, render_list, render_usage

VARIANTS = ("video", "thumbnail", "spritesheet")
EXTENSIONS = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpg"}
STATUSES = ("queued", "in_progress", "completed", "failed", "cancelled")

Command = Callable[[argparse.Namespace, VideojobsClient], int]


class UsageError(Exception):
    """Input the CLI itself rejects (before anything is sent)."""


def register(commands: Any) -> None:
    """Add the consumer commands to the CLI's sub-parsers."""
    submit = _command(commands, "submit", "submit one video job", _submit)
    submit.add_argument("prompt", help="what the video should show")
    submit.add_argument(
        "--seconds",
        help="sora-2 models: 4, 8 or 12; amazon.nova-reel-v1:1: 6 or 12-120 in steps of 6; "
        "luma.ray-v2:0: 5 or 9",
    )
    submit.add_argument("--size", help="e.g. 1280x720 or 720x1280 (luma.ray-v2:0: also 540p)")
    submit.add_argument(
        "--model",
        help="sora-2, sora-2-pro, amazon.nova-reel-v1:1 or luma.ray-v2:0 (see: videojobs models)",
    )
    submit.add_argument(
        "--loop",
        action="store_true",
        default=None,
        help="luma.ray-v2:0 only: a clip whose end runs into its start",
    )
    submit.add_argument("--preset", help="youtube, tiktok, instagram-reels, ...")
    submit.add_argument(
        "--input-reference",
        metavar="IMAGE",
        help="a JPEG, PNG or WebP the video starts from (exactly the video's size)",
    )
    _metadata_option(submit)
    submit.add_argument("--callback-url", help="where video.* events are POSTed")
    submit.add_argument("--idempotency-key", help="a retry with the same key returns the same job")
    _wait_options(submit)
    submit.add_argument("--out", help="save the video into this directory (implies --wait)")

    get = _command(commands, "get", "show a job", _get)
    get.add_argument("id")

    listing = _command(commands, "list", "list your jobs, newest first", _list)
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--batch", help="only the jobs of this batch")
    listing.add_argument("--limit", type=int, help="at most this many (1-100)")
    listing.add_argument("--after", help="continue after this job id")
    listing.add_argument("--order", choices=("asc", "desc"))

    wait = _command(commands, "wait", "wait for a job to finish, with a progress bar", _wait)
    wait.add_argument("id")
    _wait_options(wait, flag=False)

    download = _command(commands, "download", "save a finished job's files", _download)
    download.add_argument("id")
    download.add_argument("--variant", choices=(*VARIANTS, "all"), default="video")
    download.add_argument("--out", default=".", help="directory (default: current)")

    remix = _command(commands, "remix", "a new video from a completed one", _remix)
    remix.add_argument("id", help="the completed video to remix")
    remix.add_argument("prompt", help="what to change")
    _metadata_option(remix)
    remix.add_argument("--callback-url", help="where video.* events are POSTed")
    remix.add_argument("--idempotency-key", help="a retry with the same key returns the same job")
    _wait_options(remix)
    remix.add_argument("--out", help="save the video into this directory (implies --wait)")

    cancel = _command(
        commands, "cancel", "stop a running job (it stays, cancelled; files are kept)", _cancel
    )
    cancel.add_argument("id")

    delete = _command(
        commands, "delete", "delete a job and its files for good (cancels it if running)", _delete
    )
    delete.add_argument("id")
    delete.add_argument(
        "--yes", action="store_true", help="do not ask before deleting a completed video"
    )

    batch = commands.add_parser("batch", help="many jobs at once")
    batch_commands = batch.add_subparsers(dest="batch_command", required=True)
    batch_submit = _command(batch_commands, "submit", "submit a batch", _batch_submit)
    batch_submit.add_argument(
        "file",
        help="a JSON batch body, a JSON list of create bodies, or JSON Lines of create "
        "bodies ('-' reads stdin)",
    )
    _metadata_option(batch_submit, what="the batch")
    batch_submit.add_argument("--callback-url", help="where batch.completed is POSTed")
    _wait_options(batch_submit)
    batch_submit.add_argument("--out", help="save every finished video here (implies --wait)")
    batch_get = _command(batch_commands, "get", "show a batch", _batch_get)
    batch_get.add_argument("id")
    batch_wait = _command(batch_commands, "wait", "wait for a batch to finish", _batch_wait)
    batch_wait.add_argument("id")
    _wait_options(batch_wait, flag=False)

    _command(commands, "models", "the models this deployment serves", _models)

    usage = _command(
        commands, "usage", "your jobs, seconds and cost by day and model, and budgets", _usage
    )
    usage.add_argument("--start", help="first UTC day, YYYY-MM-DD (default: start of month)")
    usage.add_argument("--end", help="last UTC day, YYYY-MM-DD, included (default: today)")


def _command(commands: Any, name: str, help_text: str, run: Command) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
    parser.add_argument(
        "--state-file",
        help="the local stack's state file; otherwise VIDEOJOBS_API_URL and VIDEOJOBS_API_KEY, "
        "else .local/stack.json here or in a parent directory",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON (the default when stdout is not a terminal)"
    )
    parser.set_defaults(func=functools.partial(_run, run))
    return parser


def _metadata_option(parser: argparse.ArgumentParser, what: str = "the job") -> None:
    parser.add_argument(
        "--metadata",
        action="append",
        default=[],
        type=_pair,
        metavar="KEY=VALUE",
        help=f"a metadata pair for {what} (repeatable)",
    )


def _wait_options(parser: argparse.ArgumentParser, *, flag: bool = True) -> None:
    if flag:
        parser.add_argument("--wait", action="store_true", help="wait until it has finished")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds (default 3600)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")


def _pair(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def _run(command: Command, args: argparse.Namespace) -> int:
    """Resolve the endpoint, run ``command``, turn failures into one line and exit status 1."""
    try:
        endpoint = Endpoint.resolve(args.state_file)
    except SystemExit as exc:  # neither a state file nor the environment names an endpoint
        return _fail(str(exc.code))
    except (OSError, ValueError, KeyError) as exc:
        return _fail(f"cannot read the state file {args.state_file or '.local/stack.json'}: {exc}")
    try:
        with VideojobsClient(endpoint) as client:
            return command(args, client)
    except ApiError as exc:
        where = f" (param: {exc.param})" if exc.param else ""
        kind = f" {exc.type}" if exc.type else ""
        return _fail(f"HTTP {exc.status}{kind}: {exc.message}{where}")
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach {endpoint.api_url}: {type(exc).__name__}: {exc}")
    except TimeoutError as exc:
        return _fail(f"gave up waiting: {exc}")
    except UsageError as exc:
        return _fail(str(exc))
    except OSError as exc:  # a download that cannot be written
        return _fail(f"cannot write {exc.filename or 'the file'}: {exc.strerror or exc}")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _as_json(args: argparse.Namespace) -> bool:
    return bool(args.json) or not sys.stdout.isatty()


def _show(args: argparse.Namespace, value: Any, table: Callable[[Any], str]) -> None:
    """JSON for programs (``--json``, or stdout not a terminal), else a table for people."""
    if _as_json(args):
        _print_json(value)
    else:
        print(table(value))


# --- jobs ------------------------------------------------------------------------------------


def _submit(args: argparse.Namespace, client: VideojobsClient) -> int:
    body: dict[str, Any] = {"prompt": args.prompt}
    for field in ("seconds", "size", "model", "preset", "callback_url", "loop"):
        value = getattr(args, field)
        if value is not None:
            body[field] = value
    if args.metadata:
        body["metadata"] = dict(args.metadata)
    reference = Path(args.input_reference) if args.input_reference else None
    if reference is not None and not reference.is_file():
        raise UsageError(f"cannot read {reference}: no such file")
    job = client.create(body, idempotency_key=args.idempotency_key, input_reference=reference)
    return _finish_created(args, client, job)


def _remix(args: argparse.Namespace, client: VideojobsClient) -> int:
    body: dict[str, Any] = {"prompt": args.prompt}
    if args.metadata:
        body["metadata"] = dict(args.metadata)
    if args.callback_url:
        body["callback_url"] = args.callback_url
    job = client.remix(args.id, body, idempotency_key=args.idempotency_key)
    return _finish_created(args, client, job)


def _finish_created(args: argparse.Namespace, client: VideojobsClient, job: dict[str, Any]) -> int:
    """Show a new job, or with ``--wait``/``--out`` follow it to its end (and save it)."""
    if not (args.wait or args.out):
        _show(args, job, render_job)
        return 0
    print(f"submitted {job['id']}", file=sys.stderr)
    job = _wait_for_job(client, job["id"], args)
    if job["status"] == "completed" and args.out:
        _save(client, job["id"], "video", Path(args.out))
    _show(args, job, render_job)
    return 0 if job["status"] == "completed" else 1


def _get(args: argparse.Namespace, client: VideojobsClient) -> int:
    _show(args, client.get(args.id), render_job)
    return 0


def _list(args: argparse.Namespace, client: VideojobsClient) -> int:
    page = client.list_videos(
        status=args.status,
        batch_id=args.batch,
        limit=args.limit,
        after=args.after,
        order=args.order,
    )
    _show(args, page, render_list)
    return 0


def _wait(args: argparse.Namespace, client: VideojobsClient) -> int:
    job = _wait_for_job(client, args.id, args)
    _show(args, job, render_job)
    return 0 if job["status"] == "completed" else 1


def _wait_for_job(
    client: VideojobsClient, video_id: str, args: argparse.Namespace
) -> dict[str, Any]:
    bar = ProgressBar(video_id)
    try:
        return client.wait(
            video_id,
            interval=args.interval,
            timeout=args.timeout,
            on_update=lambda job: bar.update(int(job.get("progress") or 0), _status_line(job)),
        )
    finally:
        bar.close()


def _status_line(job: dict[str, Any]) -> str:
    """``queued (waiting_for_slot #2)``: the status, and why it waits."""
    reason = job.get("status_reason")
    if not reason:
        return str(job["status"])
    place = f" #{job['queue_position']}" if job.get("queue_position") else ""
    return f"{job['status']} ({reason}{place})"


def _download(args: argparse.Namespace, client: VideojobsClient) -> int:
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    saved = [_save(client, args.id, variant, Path(args.out)) for variant in variants]
    if _as_json(args):
        _print_json(saved if args.variant == "all" else saved[0])
    return 0


def _save(
    client: VideojobsClient, video_id: str, variant: str, out: Path, name: str | None = None
) -> dict[str, Any]:
    target = out / f"{name or video_id}.{EXTENSIONS[variant]}"
    size = client.download(video_id, target, variant=variant)
    print(f"saved {target} ({size} bytes)", file=sys.stderr)
    return {"id": video_id, "variant": variant, "path": str(target), "bytes": size}


def _cancel(args: argparse.Namespace, client: VideojobsClient) -> int:
    before = client.get(args.id)
    job = client.cancel(args.id)
    if _as_json(args):
        _print_json(job)
    elif before["status"] in TERMINAL:
        print(f"{job['id']} had already ended ({job['status']}); nothing was cancelled.")
    else:
        print(f"cancelled {job['id']} (its record stays; `videojobs delete` removes it)")
    return 0


def _delete(args: argparse.Namespace, client: VideojobsClient) -> int:
    job = client.get(args.id)
    if job["status"] == "completed" and not args.yes and not _confirmed(job):
        raise UsageError(
            f"{job['id']} is a completed video: deleting removes it and its files for good. "
            "Pass --yes to delete it."
        )
    deleted = client.delete(args.id)
    if _as_json(args):
        _print_json(deleted)
    else:
        print(f"deleted {deleted['id']}")
    return 0


def _confirmed(job: dict[str, Any]) -> bool:
    """Ask on the terminal; without one, nobody can answer, so the answer is no."""
    if not sys.stdin.isatty():
        return False
    answer = input(f"Delete the completed video {job['id']} and its files for good? [y/N] ")
    return answer.strip().lower() in {"y", "yes"}


# --- batches ---------------------------------------------------------------------------------


def read_batch_file(text: str) -> dict[str, Any]:
    """A batch body from a file: a JSON object (sent as it is), a JSON list of create
    bodies, or JSON Lines of create bodies (both become ``{"requests": [...]}``)."""
    stripped = text.strip()
    if not stripped:
        raise UsageError("the batch file is empty")
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
        requests = []
        for number, line in enumerate(stripped.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                requests.append(json.loads(line))
            except ValueError as exc:
                raise UsageError(f"line {number} of the batch file is not JSON: {exc}") from exc
        return {"requests": requests}
    if isinstance(whole, list):
        return {"requests": whole}
    if isinstance(whole, dict):
        # One line of JSON Lines is also a JSON object: a lone create body is a batch of one.
        if "prompt" in whole and not {"n", "requests", "presets", "brief"} & set(whole):
            return {"requests": [whole]}
        return whole
    raise UsageError("the batch file must hold a JSON object, a list, or JSON Lines")


def _batch_submit(args: argparse.Namespace, client: VideojobsClient) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    body = read_batch_file(text)
    if args.metadata:
        body["metadata"] = {**body.get("metadata", {}), **dict(args.metadata)}
    if args.callback_url:
        body["callback_url"] = args.callback_url
    batch = client.create_batch(body)
    if not (args.wait or args.out):
        _show(args, batch, render_batch)
        return 0
    print(f"submitted {batch['id']} ({batch['total']} videos)", file=sys.stderr)
    batch = _wait_for_batch(client, batch["id"], args)
    if args.out:
        names = file_names(body, batch["job_ids"])
        for job_id in batch["job_ids"]:
            if client.get(job_id)["status"] == "completed":
                _save(client, job_id, "video", Path(args.out), names[job_id])
    _show(args, batch, render_batch)
    return 0 if batch["counts"]["completed"] == batch["total"] else 1


def file_names(body: dict[str, Any], job_ids: list[str]) -> dict[str, str]:
    """A file name for each job of a batch: its preset (``tiktok``, then ``tiktok-2`` if the
    batch has two), else its id. ``job_ids`` are in the order of the body's ``presets`` or
    ``requests``."""
    presets: list[Any]
    if isinstance(body.get("presets"), list):
        presets = list(body["presets"])
    elif isinstance(body.get("requests"), list):
        presets = [r.get("preset") if isinstance(r, dict) else None for r in body["requests"]]
    else:
        presets = []
    names: dict[str, str] = {}
    used: dict[str, int] = {}
    for index, job_id in enumerate(job_ids):
        preset = presets[index] if index < len(presets) else None
        if not isinstance(preset, str) or not preset.replace("-", "").isalnum():
            names[job_id] = job_id
            continue
        used[preset] = used.get(preset, 0) + 1
        names[job_id] = preset if used[preset] == 1 else f"{preset}-{used[preset]}"
    return names


def _batch_get(args: argparse.Namespace, client: VideojobsClient) -> int:
    _show(args, client.get_batch(args.id), render_batch)
    return 0


def _batch_wait(args: argparse.Namespace, client: VideojobsClient) -> int:
    batch = _wait_for_batch(client, args.id, args)
    _show(args, batch, render_batch)
    return 0 if batch["counts"]["completed"] == batch["total"] else 1


def _wait_for_batch(
    client: VideojobsClient, batch_id: str, args: argparse.Namespace
) -> dict[str, Any]:
    bar = ProgressBar(batch_id)

    def show(batch: dict[str, Any]) -> None:
        counts = batch["counts"]
        finished = counts["completed"] + counts["failed"] + counts["cancelled"]
        bar.update(int(batch["percent_complete"]), f"{finished}/{batch['total']} done")

    try:
        return client.wait_batch(
            batch_id, interval=args.interval, timeout=args.timeout, on_update=show
        )
    finally:
        bar.close()


# --- usage -----------------------------------------------------------------------------------


def fetch_usage(
    client: VideojobsClient, *, start: str | None = None, end: str | None = None
) -> dict[str, Any]:
    """``GET /usage`` for the client's tenant (the API checks the dates)."""
    params = {k: v for k, v in {"start": start, "end": end}.items() if v is not None}
    # The client has no usage method of its own; this uses its connection and error check.
    response = client._check(client._http.get("/usage", params=params))
    result: dict[str, Any] = response.json()
    return result


def _models(args: argparse.Namespace, client: VideojobsClient) -> int:
    # The client has no models method of its own; this uses its connection and error check.
    response = client._check(client._http.get("/models"))
    _print_json(response.json())
    return 0


def _usage(args: argparse.Namespace, client: VideojobsClient) -> int:
    _show(args, fetch_usage(client, start=args.start, end=args.end), render_usage)
    return 0
