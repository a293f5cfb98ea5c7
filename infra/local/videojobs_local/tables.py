"""The CLI's output for people: short tables and field lists instead of raw JSON.

Presigned asset links are left out (long, and stale within minutes): ``videojobs download``
fetches the files.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

PROMPT_CHARS = 48


def _when(epoch: Any) -> str:
    if not epoch:
        return ""
    moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(text: str, limit: int = PROMPT_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _why(job: dict[str, Any]) -> str:
    """Why a job waits, or how it ended badly."""
    if job.get("error"):
        return f"{job['error']['code']}: {job['error']['message']}"
    reason = job.get("status_reason")
    if not reason:
        return ""
    if job.get("queue_position"):
        return f"{reason} (#{job['queue_position']} in line)"
    return str(reason)


def _progress(job: dict[str, Any]) -> str:
    return f"{job.get('progress') or 0}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def render_job(job: dict[str, Any]) -> str:
    fields = [
        ("id", job["id"]),
        ("status", job["status"]),
        ("why", _why(job)),
        ("progress", _progress(job)),
        ("model", job["model"]),
        ("size", job["size"]),
        ("seconds", job["seconds"]),
        ("prompt", _short(job["prompt"], 200)),
        ("created", _when(job.get("created_at"))),
        ("completed", _when(job.get("completed_at"))),
        ("batch", job.get("batch_id") or ""),
        ("remix of", job.get("remixed_from_video_id") or ""),
    ]
    cost = job.get("cost")
    if cost:
        settled = cost.get("settled_usd")
        fields.append(
            (
                "cost",
                f"${settled:.2f}"
                if settled is not None
                else f"${cost['estimated_usd']:.2f} (estimate)",
            )
        )
    for key, value in (job.get("metadata") or {}).items():
        fields.append((f"metadata.{key}", value))
    if job.get("assets"):
        fields.append(
            ("files", ", ".join(sorted(job["assets"])) + f" (videojobs download {job['id']})")
        )
    width = max(len(name) for name, _ in fields)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in fields if value)


def render_list(page: dict[str, Any]) -> str:
    jobs = page.get("data") or []
    if not jobs:
        return "no videos"
    rows = [
        [
            job["id"],
            job["status"],
            _progress(job),
            job["size"],
            f"{job['seconds']}s",
            _when(job.get("created_at"))[:16],
            _short(_why(job), 40),
            _short(job["prompt"]),
        ]
        for job in jobs
    ]
    text = table(["ID", "STATUS", "PROGRESS", "SIZE", "LEN", "CREATED", "WHY", "PROMPT"], rows)
    if page.get("has_more"):
        text += f"\n(more: --after {page['last_id']})"
    return text


def render_batch(batch: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in batch["counts"].items() if n)
    lines = [
        f"{batch['id']}  {batch['status']}  {batch['percent_complete']}%  "
        f"{batch['total']} videos: {counts}",
        f"created {_when(batch.get('created_at'))}"
        + (f", completed {_when(batch['completed_at'])}" if batch.get("completed_at") else ""),
    ]
    lines += [f"  {job_id}" for job_id in batch["job_ids"]]
    return "\n".join(lines)


def render_usage(usage: dict[str, Any]) -> str:
    def row(first: str, second: str, c: dict[str, Any]) -> list[str]:
        return [
            first,
            second,
            str(c["jobs"]),
            str(c["completed"]),
            str(c["failed"]),
            str(c["cancelled"]),
            str(c["running"]),
            str(c["seconds"]),
            f"{c['cost_usd']:.2f}",
        ]

    rows = [row(str(line["day"]), line["model"], line) for line in usage["data"]]
    rows.append(row("total", f"{usage['start']}..{usage['end']}", usage["totals"]))
    headers = ["DAY", "MODEL", "JOBS", "DONE", "FAILED", "CANCELLED", "RUNNING", "SECONDS", "USD"]
    lines = [table(headers, rows), ""]
    for name in ("daily", "monthly"):
        b = usage["budgets"][name]
        limit = (
            "no limit"
            if b["limit_usd"] is None
            else f"limit ${b['limit_usd']:.2f}, remaining ${b['remaining_usd']:.2f}"
        )
        lines.append(
            f"{name} budget {b['period']}: spent ${b['spent_usd']:.2f}, "
            f"reserved ${b['reserved_usd']:.2f}, {limit}"
        )
    return "\n".join(lines)
