"""Benchmark: many jobs at once through the local stack, under the global limits, with
provider faults and AWS-side faults scattered over the run.

Starts the local stack (template.yaml on moto, the emulator as the provider, sped up),
submits ``--jobs`` jobs through ``POST /v1/videos`` as fast as a few clients can, and lets
them run to the end while about ``--fault-percent`` % of provider requests meet a fault:
a 5xx (some after the request took effect, like a gateway timeout after a create), a 429
with Retry-After, or a download cut short. With ``--aws-fault-percent``, about that share of
the stack's Lambda invokes meet a throttle, a crash or a timeout and of its DynamoDB requests
a throttle (``videojobs_local.stack.AwsFaults``, as ``videojobs local up --aws-fault-percent``
injects them). Nothing reads the jobs through the API while they run (a read would add
provider requests of its own); progress comes from the tables.

With ``--solo N``, N jobs first run one at a time (each submitted when the previous one's
execution has ended, same stack, no faults), as the baseline for the burst: the burst's
span (first POST to last execution end) against the sum of the solo jobs' spans. 16 jobs on
2 slots should take about as long as 8 jobs one after another.

What it reports:

- completed / failed / lost / stuck. *Lost*: accepted by the API but not accounted for at
  the end: no job record, or completed without its three files in S3 at the recorded size.
  *Stuck*: still queued or in progress (or its execution still running) when the run ends;
- peak in flight: the emulator's ``max_in_progress`` (videos generating at the provider at
  once) and the highest semaphore count sampled, against ``MaxConcurrentJobs``; and whether
  any slot is still held at the end, or any job still in the slot line (the slot-line
  table) or granted a slot without having woken (``woken``);
- duplicate creates: provider videos per job (the emulator's records, by prompt), beyond one;
- transitions per job, from the execution histories: every state entered, and without the
  slot wait (AcquireSlot counted once, ParkForSlot not at all);
- provider requests: total, per job, the busiest 60-s window against the token bucket's
  promise (at most capacity + rate requests), and the faults injected.

Targets (exit 1 when one is missed): 0 lost, 0 stuck, no slot held and no job left in the
slot line at the end, peak in flight <= MaxConcurrentJobs, 0 duplicate provider creates, no
stretch of provider requests beyond the token bucket's promise, median states entered per
job <= 12, and with ``--solo``, the burst within 1.6x of the solo jobs.

    .venv/bin/python bench/scale.py [--jobs 200] [--speed 100] [--fault-percent 5]
        [--aws-fault-percent 0] [--aws-fault-kinds KINDS] [--solo 0]
        [--max-concurrent 5] [--rate 60] [--timeout 1800] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# The slot-wait loop's states, as the orchestration bench counts them (bench/ is on sys.path
# when a bench runs as a script).
from orchestration import SLOT_WAIT_STATES

TERMINAL = frozenset({"completed", "failed", "cancelled"})
# One tenant submits every job: the limits that keep tenants fair to each other (per-tenant
# slots and API request rate, the stage throttle) are lifted, and the functions log errors only.
ONE_TENANT = {
    "MaxJobsPerTenant": "0",
    "TenantRequestsPerSecond": "10000",
    "TenantRequestBurst": "10000",
    "ApiThrottleRateLimit": "10000",
    "ApiThrottleBurstLimit": "10000",
    "LogLevel": "ERROR",
}
FAULT_KINDS = ("server_error", "rate_limit", "truncate_download")
VARIANT_FILES = {
    "video": "video.mp4",
    "thumbnail": "thumbnail.webp",
    "spritesheet": "spritesheet.jpg",
}
SUBMIT_CLIENTS = 4
PROGRESS_SECONDS = 2.0
# After the last execution ends: time for the reaper and the callback queue to drain.
SETTLE_SECONDS = 3.0
MAX_MEDIAN_STATES = 12
MAX_BURST_RATIO = 1.6


@dataclass
class Sampler:
    """What a background thread watches while the run goes: the semaphore, job statuses."""

    peak_in_flight: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class FaultPlan:
    """Keeps the faults armed so far at ``percent`` % of the provider requests so far, one
    of a kind at a time, so that they land throughout the run rather than in one clump."""

    percent: float
    rng: random.Random
    armed: Counter[str] = field(default_factory=Counter)


# --- the run ---------------------------------------------------------------------------------


def _jobs_by_status(local: Any, *, whole: bool = True) -> tuple[Counter[str], list[dict[str, Any]]]:
    """The jobs by status, and the items read. ``whole=False`` reads only the status and the
    waiting mark: a scan of a thousand whole jobs on moto takes seconds, and the progress line
    would otherwise take most of the stack's time."""
    ddb = local.stack.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": local.state()["jobs_table"], "ConsistentRead": True}
    if not whole:
        kwargs["ProjectionExpression"] = "#status, waiting"
        kwargs["ExpressionAttributeNames"] = {"#status": "status"}
    items: list[dict[str, Any]] = []
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    counts = Counter(item["status"]["S"] for item in items)
    counts["waiting"] = sum(1 for item in items if "waiting" in item)
    return counts, items


@dataclass(frozen=True)
class SemaphoreState:
    in_flight: int
    holders: frozenset[str]
    # Jobs in the slot line (the slot-line table's items), and jobs granted a slot whose
    # wake-up is not confirmed yet (the semaphore's ``woken``).
    waiters: frozenset[str]
    woken: frozenset[str]


def semaphore_state(item: dict[str, Any], line: Sequence[dict[str, Any]] = ()) -> SemaphoreState:
    """The semaphore item and the slot line's items (DynamoDB's wire format) as counts and
    sets."""
    from videojobs.adapters.dal.control import WOKEN

    return SemaphoreState(
        in_flight=int(item.get("in_flight", {}).get("N", "0")),
        holders=frozenset(item.get("holders", {}).get("SS", [])),
        waiters=frozenset(waiter["job_id"]["S"] for waiter in line),
        woken=frozenset(item.get(WOKEN, {}).get("SS", [])),
    )


def duplicate_creates(prompts: Sequence[str], job_prompts: Sequence[str]) -> Counter[str]:
    """Provider videos beyond the first, per job prompt (``prompts``: every video's prompt)."""
    made = Counter(prompts)
    return Counter({p: made[p] - 1 for p in job_prompts if made[p] > 1})


def _semaphore(local: Any, *, with_line: bool = False) -> SemaphoreState:
    dynamodb = local.stack.client("dynamodb")
    item = dynamodb.get_item(
        TableName=local.state()["control_table"],
        Key={"pk": {"S": "semaphore#jobs"}},
        ConsistentRead=True,
    ).get("Item", {})
    line: list[dict[str, Any]] = []
    if with_line:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=local.state()["slot_line_table"],
            KeyConditionExpression="#line = :line",
            ExpressionAttributeNames={"#line": "line"},
            ExpressionAttributeValues={":line": {"S": "jobs"}},
            ConsistentRead=True,
        )
        line = [waiter for page in pages for waiter in page.get("Items", [])]
    return semaphore_state(item, line)


def _inject_faults(local: Any, plan: FaultPlan) -> None:
    """Called often: when enough provider requests have passed, arm one more fault."""
    seen = int(local.emulator.stats()["requests"])
    if sum(plan.armed.values()) >= seen * plan.percent / 100:
        return
    pending = local.emulator.emulator.faults.snapshot()
    free = [kind for kind in FAULT_KINDS if pending[kind] is None]
    if not free:
        return
    kind = plan.rng.choice(free)
    if kind == "server_error":
        spec = {
            "count": 1,
            "status": plan.rng.choice([500, 502, 503, 504]),
            "after_processing": plan.rng.random() < 0.5,
        }
    elif kind == "rate_limit":
        spec = {"count": 1, "retry_after": 1}
    else:
        spec = {"count": 1, "after_bytes": plan.rng.randrange(0, 64 * 1024)}
    local.emulator.set_faults(**{kind: spec})
    plan.armed[kind] += 1


def _watch(
    local: Any,
    sampler: Sampler,
    plan: FaultPlan | None,
    stop: threading.Event,
    started: float,
    total: int,
    limit: int,
) -> None:
    interactive = sys.stderr.isatty()
    last_line = 0.0
    while not stop.is_set():
        in_flight = _semaphore(local).in_flight
        if plan is not None:
            _inject_faults(local, plan)
        now = time.monotonic()
        with sampler.lock:
            sampler.peak_in_flight = max(sampler.peak_in_flight, in_flight)
        if now - last_line >= max(PROGRESS_SECONDS, total / 200):
            counts, _ = _jobs_by_status(local, whole=False)
            with sampler.lock:
                sampler.counts = counts
            stats = local.emulator.stats()
            line = (
                f"[{now - started:6.0f} s] jobs {sum(counts[s] for s in counts if s != 'waiting')}"
                f"/{total}: completed {counts['completed']}, failed {counts['failed']}, "
                f"running {counts['queued'] + counts['in_progress'] - counts['waiting']}, "
                f"waiting for a slot {counts['waiting']} | in flight {in_flight}/{limit} "
                f"| provider requests {stats['requests']}, faults {stats['faults_injected']}"
            )
            if interactive:
                sys.stderr.write("\r" + line.ljust(150))
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
            last_line = now
        stop.wait(0.25)
    if interactive:
        sys.stderr.write("\n")


def job_prompt(index: int) -> str:
    return f"scale bench {index}: a lighthouse in a storm"


def solo_prompt(index: int) -> str:
    return f"scale bench solo {index}: a lighthouse in a storm"


def _run_solo(local: Any, count: int, timeout: float) -> list[float]:
    """Runs ``count`` jobs one after another; each one's span in s (POST to execution end)."""
    import httpx

    machine = local.state()["state_machine_arn"].replace(":stateMachine:", ":execution:")
    spans: list[float] = []
    with httpx.Client(timeout=60.0) as http:
        for index in range(count):
            posted = time.time()
            response = http.post(
                f"{local.api_url}/videos",
                json={"prompt": solo_prompt(index), "seconds": "4", "size": "720x1280"},
                headers={"Authorization": f"Bearer {local.api_key}"},
            )
            if response.status_code != 200:
                raise SystemExit(f"solo POST /videos answered {response.status_code}")
            job_id = response.json()["id"]
            described = local.stack.wait_for_execution(f"{machine}:{job_id}", timeout=timeout)
            if described["status"] != "SUCCEEDED":
                raise SystemExit(f"solo job {job_id}: execution {described['status']}")
            spans.append(described["stopDate"].timestamp() - posted)
    return spans


def _submit_all(local: Any, count: int) -> tuple[list[str], Counter[int]]:
    import httpx

    rejected: Counter[int] = Counter()
    ids: list[str] = []
    lock = threading.Lock()
    sizes = ("720x1280", "1280x720")

    def submit(index: int, http: httpx.Client) -> None:
        response = http.post(
            f"{local.api_url}/videos",
            json={
                "prompt": job_prompt(index),
                "seconds": "4",
                "size": sizes[index % len(sizes)],
            },
            headers={"Authorization": f"Bearer {local.api_key}"},
        )
        with lock:
            if response.status_code == 200:
                ids.append(response.json()["id"])
            else:
                rejected[response.status_code] += 1

    def client_loop(indexes: Sequence[int]) -> None:
        with httpx.Client(timeout=60.0) as http:
            for index in indexes:
                submit(index, http)

    with ThreadPoolExecutor(max_workers=SUBMIT_CLIENTS) as pool:
        chunks = [range(i, count, SUBMIT_CLIENTS) for i in range(SUBMIT_CLIENTS)]
        for future in [pool.submit(client_loop, chunk) for chunk in chunks]:
            future.result()
    return ids, rejected


def _running_executions(local: Any) -> int:
    sfn = local.stack.client("stepfunctions")
    machine = local.state()["state_machine_arn"]
    running = 0
    kwargs: dict[str, Any] = {"stateMachineArn": machine, "statusFilter": "RUNNING"}
    while True:
        page = sfn.list_executions(**kwargs)
        running += len(page["executions"])
        if not page.get("nextToken"):
            return running
        kwargs["nextToken"] = page["nextToken"]


def _history(local: Any, job_id: str) -> list[dict[str, Any]]:
    sfn = local.stack.client("stepfunctions")
    arn = local.state()["state_machine_arn"].replace(":stateMachine:", ":execution:")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": f"{arn}:{job_id}", "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _assets_intact(local: Any, item: dict[str, Any]) -> bool:
    from botocore.exceptions import ClientError

    s3 = local.stack.client("s3")
    bucket = local.state()["bucket"]
    recorded = item.get("assets", {}).get("M", {})
    if set(recorded) != set(VARIANT_FILES):
        return False
    for variant in VARIANT_FILES:
        asset = recorded[variant]["M"]
        try:
            head = s3.head_object(Bucket=bucket, Key=asset["key"]["S"])
        except ClientError:  # absent (404) or unreadable: either way not stored
            return False
        if int(head["ContentLength"]) != int(asset["bytes"]["N"]):
            return False
    return True


def envelope_excess(times: Sequence[float], capacity: float, per_second: float) -> float:
    """How far the busiest stretch of requests goes over the token bucket's promise: in any
    window of ``d`` seconds, at most ``capacity + per_second * d`` requests (0.25 s of
    network delay forgiven). <= 0 means the promise held."""
    ordered = sorted(times)
    worst = float("-inf")
    for i, start in enumerate(ordered):
        for j in range(i, len(ordered)):
            worst = max(worst, (j - i + 1) - (capacity + per_second * (ordered[j] - start + 0.25)))
    return worst


def busiest_window(times: Sequence[float], seconds: float) -> int:
    """Most requests in any window of ``seconds`` (two pointers over the sorted times)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def run(args: argparse.Namespace) -> int:
    from videojobs_local.local import run_local
    from videojobs_local.stack import AwsFaults

    aws_faults = AwsFaults.from_percent(
        args.aws_fault_percent, kinds=args.aws_fault_kinds, seed=args.seed
    )

    overrides = {
        "MaxConcurrentJobs": str(args.max_concurrent),
        "ProviderRequestsPerMinute": str(args.rate),
        **ONE_TENANT,
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
        f"jobs: {args.jobs} (sora-2, 4 s, 720x1280 / 1280x720), emulator speed {args.speed:g} "
        f"(a clip generates in about {74 / args.speed:.2f} s)\n"
        f"limits: MaxConcurrentJobs={args.max_concurrent}, ProviderRequestsPerMinute="
        f"{args.rate} (bucket capacity {args.rate}), no per-tenant limits (one tenant); other "
        "parameters: template defaults\n"
        f"faults: about {args.fault_percent:g} % of provider requests (server_error, "
        f"rate_limit with Retry-After 1 s, truncate_download), seed {args.seed}\n"
        f"AWS-side faults: {args.aws_fault_percent:g} % of Lambda invokes and of DynamoDB "
        f"requests ({', '.join(sorted(aws_faults.kinds))}), seed {args.seed}\n"
        f"solo baseline: {args.solo} jobs one at a time before the burst\n",
        flush=True,
    )
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("videojobs_local").setLevel(logging.ERROR)
    plan = (
        FaultPlan(percent=args.fault_percent, rng=random.Random(args.seed))
        if args.fault_percent > 0
        else None
    )
    sampler = Sampler()
    stop = threading.Event()
    stack_started = time.monotonic()
    # The functions' metric lines would bury the progress line (on stderr) and the report;
    # nothing measured depends on them.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        run_local(
            emulator_speed=args.speed,
            parameter_overrides=overrides,
            aws_faults=aws_faults if aws_faults.active else None,
        ) as local,
    ):
        sys.stderr.write(f"local stack up in {time.monotonic() - stack_started:.1f} s\n")
        # Set here: the functions' logger exists once the stack has loaded a handler.
        from videojobs.observability import logger

        logger.setLevel("ERROR")
        solo_spans = _run_solo(local, args.solo, args.timeout)
        if solo_spans:
            sys.stderr.write(f"solo: {args.solo} jobs in {sum(solo_spans):.1f} s\n")
        burst_posted = time.time()
        started = time.monotonic()
        watcher = threading.Thread(
            target=_watch,
            args=(local, sampler, plan, stop, started, args.jobs, args.max_concurrent),
            daemon=True,
        )
        watcher.start()
        ids, rejected = _submit_all(local, args.jobs)
        submitted_in = time.monotonic() - started
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            counts, _ = _jobs_by_status(local, whole=False)
            if sum(counts[s] for s in TERMINAL) >= len(ids) and _running_executions(local) == 0:
                break
            time.sleep(max(1.0, args.jobs / 200))
        finished_in = time.monotonic() - started
        stop.set()
        watcher.join()
        local.emulator.set_faults(server_error=None, rate_limit=None, truncate_download=None)
        time.sleep(SETTLE_SECONDS)
        local.stack.wait_idle(timeout=30)

        _, items = _jobs_by_status(local)
        by_id = {item["job_id"]["S"]: item for item in items}
        still_running = _running_executions(local)
        semaphore_end = _semaphore(local, with_line=True)
        stats = local.emulator.stats()
        requests = local.emulator.requests()
        engine = local.emulator.emulator
        with engine._cond:
            video_prompts = [video.prompt for video in engine._videos.values()]
        duplicates = duplicate_creates(
            video_prompts,
            [job_prompt(i) for i in range(args.jobs)] + [solo_prompt(i) for i in range(args.solo)],
        )
        injector = local.stack.faults
        aws_injected = dict(injector.injected) if injector is not None else {}
        aws_draws = dict(injector.draws) if injector is not None else {}
        burst_end = burst_posted
        outcomes: Counter[str] = Counter()
        error_codes: Counter[str] = Counter()
        transitions: list[int] = []
        # Per job, Submit entered to execution end: about the time it held its slot.
        holding: list[float] = []
        transitions_no_wait: list[int] = []
        for job_id in ids:
            item = by_id.get(job_id)
            if item is None:
                outcomes["lost"] += 1
                continue
            status = item["status"]["S"]
            if status not in TERMINAL:
                outcomes["stuck"] += 1
            elif status == "completed":
                outcomes["completed" if _assets_intact(local, item) else "lost"] += 1
            else:
                outcomes[status] += 1
                error_codes[item.get("error", {}).get("M", {}).get("code", {}).get("S", "?")] += 1
            events = _history(local, job_id)
            if events:
                burst_end = max(burst_end, events[-1]["timestamp"].timestamp())
            entered = [
                e["stateEnteredEventDetails"]["name"]
                for e in events
                if "stateEnteredEventDetails" in e
            ]
            submit_at = next(
                (
                    e["timestamp"].timestamp()
                    for e in events
                    if e.get("stateEnteredEventDetails", {}).get("name") == "Submit"
                ),
                None,
            )
            if submit_at is not None and events:
                holding.append(events[-1]["timestamp"].timestamp() - submit_at)
            transitions.append(len(entered))
            # A parked wait that hit its safety net enters AcquireSlot again: count it once.
            transitions_no_wait.append(
                sum(1 for name in entered if name not in SLOT_WAIT_STATES | {"AcquireSlot"}) + 1
            )
    total_run = time.monotonic() - stack_started

    times = [float(r["time"]) for r in requests]
    window = busiest_window(times, 60.0)
    excess = envelope_excess(times, args.rate, args.rate / 60)
    statuses = Counter(int(r["status"]) for r in requests)
    peak = max(int(stats["max_in_progress"]), sampler.peak_in_flight)
    print()
    print(
        f"submitted: {len(ids)} accepted, {sum(rejected.values())} refused {dict(rejected)} "
        f"in {submitted_in:.1f} s; all ended after {finished_in:.1f} s"
    )
    print(
        f"outcome: completed {outcomes['completed']}, failed {outcomes['failed']}"
        f"{' ' + dict(error_codes).__repr__() if error_codes else ''}, cancelled "
        f"{outcomes['cancelled']}, lost {outcomes['lost']}, stuck {outcomes['stuck']} "
        f"(executions still running: {still_running})"
    )
    print(
        f"peak in flight: emulator max_in_progress {stats['max_in_progress']}, semaphore "
        f"{sampler.peak_in_flight} (sampled every 0.25 s); limit {args.max_concurrent}; "
        f"at the end: in_flight {semaphore_end.in_flight}, holders "
        f"{len(semaphore_end.holders)}, in the slot line {len(semaphore_end.waiters)}, "
        f"woken unconfirmed {len(semaphore_end.woken)}"
    )
    print(
        f"transitions per job: all states median {_median(transitions):g}, max "
        f"{max(transitions, default=0)}; without the slot-wait loop median "
        f"{_median(transitions_no_wait):g}, max {max(transitions_no_wait, default=0)}"
    )
    per_job = len(requests) / len(ids) if ids else 0.0
    creates = sum(1 for r in requests if r["method"] == "POST" and r["path"] == "/v1/videos")
    print(
        f"provider: {stats['created']} videos created for {len(ids) + args.solo} jobs "
        f"({args.solo} solo), {sum(duplicates.values())} duplicates; {creates} create requests; "
        f"{len(requests)} "
        f"requests ({per_job:.2f} per job), answers {dict(sorted(statuses.items()))}\n"
        f"provider rate: busiest 60-s window {window} requests (rate {args.rate}/min, "
        f"capacity {args.rate}: at most {2 * args.rate} in any 60 s); worst excess over the "
        f"bucket's envelope (capacity + rate x window), any window: {excess:.2f} requests"
    )
    injected = dict(plan.armed) if plan is not None else {}
    print(
        f"faults injected: {stats['faults_injected']} of {stats['requests']} requests "
        f"({100 * int(stats['faults_injected']) / max(1, int(stats['requests'])):.1f} %), "
        f"armed {injected}"
    )
    print(
        f"AWS-side faults injected: {aws_injected or 'none'} (draws: Lambda invokes "
        f"{aws_draws.get('lambda', 0)}, DynamoDB requests {aws_draws.get('dynamodb', 0)})"
    )
    burst_span = burst_end - burst_posted
    ratio = burst_span / sum(solo_spans) if solo_spans else 0.0
    if solo_spans:
        print(
            f"burst vs solo: {len(ids)} jobs on {args.max_concurrent} slots took "
            f"{burst_span:.1f} s (first POST to last execution end); {args.solo} solo jobs "
            f"one after another {sum(solo_spans):.1f} s (median {_median(solo_spans):.2f} s "
            f"each): ratio {ratio:.2f}x; a burst job held its slot (Submit entered to "
            f"execution end) median {_median(holding):.2f} s"
        )
    print(f"run took {total_run:.0f} s (stack start included)")

    verdict = {True: "ok", False: "MISSED"}
    checks = {
        "0 lost": outcomes["lost"] == 0 and len(ids) + sum(rejected.values()) == args.jobs,
        "0 stuck": outcomes["stuck"] == 0 and still_running == 0,
        "no slot held at the end": semaphore_end.in_flight == 0 and not semaphore_end.holders,
        "no job left in the slot line": not semaphore_end.waiters and not semaphore_end.woken,
        f"peak in flight <= {args.max_concurrent}": peak <= args.max_concurrent,
        "0 duplicate provider creates": not duplicates,
        "provider requests within the rate limit": excess <= 0,
        f"median states entered per job <= {MAX_MEDIAN_STATES}": _median(transitions)
        <= MAX_MEDIAN_STATES,
    }
    if solo_spans:
        checks[f"burst within {MAX_BURST_RATIO:g}x of the solo jobs"] = ratio <= MAX_BURST_RATIO
    print("\ntargets:")
    for name, ok in checks.items():
        print(f"  {name}: {verdict[ok]}")
    return 0 if all(checks.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=200, help="jobs to submit (default 200)")
    parser.add_argument("--speed", type=float, default=100.0, help="emulator speed (default 100)")
    parser.add_argument(
        "--fault-percent",
        type=float,
        default=5.0,
        help="share of provider requests that meet a fault (default 5)",
    )
    parser.add_argument(
        "--aws-fault-percent",
        type=float,
        default=0.0,
        help="share of Lambda invokes and of DynamoDB requests that meet an AWS-side fault "
        "(default 0)",
    )
    parser.add_argument(
        "--aws-fault-kinds",
        default=None,
        help="comma-separated AWS-side fault kinds (default: all of lambda_throttle, "
        "lambda_crash, lambda_timeout, dynamodb_throttle)",
    )
    parser.add_argument(
        "--solo",
        type=int,
        default=0,
        help="jobs to run one at a time before the burst, as its baseline (default 0: none)",
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=5, help="MaxConcurrentJobs (default 5)"
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=60,
        help="ProviderRequestsPerMinute, per real minute (default 60: about what the run asks "
        "for, so bursts meet an empty bucket)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="give up after this many s (default 1800)"
    )
    parser.add_argument("--seed", type=int, default=1, help="fault plan seed (default 1)")
    args = parser.parse_args(argv)
    if min(args.jobs, args.max_concurrent, args.rate) < 1 or args.speed <= 0:
        parser.error("--jobs, --max-concurrent, --rate and --speed must be positive")
    if not 0 <= args.fault_percent < 100:
        parser.error("--fault-percent must be in [0, 100)")
    if not 0 <= args.aws_fault_percent < 100:
        parser.error("--aws-fault-percent must be in [0, 100)")
    if args.solo < 0:
        parser.error("--solo must be 0 or more")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
