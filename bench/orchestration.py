"""Benchmark: what one job costs the orchestration, against a naive poll-every-10-s loop.

Runs jobs one at a time through the local stack (template.yaml on moto, the emulator as the
provider) and reads, per job:

- state transitions: ``*StateEntered`` events in the execution history, without the
  slot-wait state (ParkForSlot);
- history events, all of them;
- Lambda invocations: the local dispatcher's records from the job's POST until 0.5 s after
  its execution ended (jobs run one at a time, so the window holds this job's calls only:
  authorizer and api for the POST, the workflow's tasks, the provider webhook, and whatever
  the end of a job triggers);
- provider status calls: ``GET /v1/videos/{id}`` for the job's provider video in the
  emulator's request log;
- completion latency: provider completion (the emulator's own float timestamp) to the
  workflow leaving the wait (StoreAssets entered) and to the execution's end
  (ExecutionSucceeded, when the job is completed), from execution-history timestamps (ms);
  and submission (the POST) to the execution's end, in real seconds.

Four phases: no webhooks (the emulator drops every webhook from the start, as a provider that
sends none: no webhook has ever arrived, so status checks start at ``PollIntervalSeconds``);
webhook mode, after one uncounted warm-up job (the first job after a spell without webhooks
checks early too, until its webhook arrives); lost webhooks (the emulator drops them after
webhooks have been arriving, so the first check waits ``FirstStatusCheckSeconds``); webhook
mode with a 3-minute generation.

Time is scaled. The stack's waits are real seconds; the bench maps ``--scale`` emulated
seconds onto each real second, for the provider (emulator speed) and for the poll parameters
alike (template defaults, given in emulated seconds, are divided by the scale). Generation
times are reported in emulated seconds: real seconds x scale, so a job's timeline is the
one a deployment with those parameters would see, only faster. The 3-minute phase slows the
emulator's clock so that its 74-s clip takes 180 emulated seconds at the same scale.

The naive loop (Wait 10 s + Task + Choice per poll, plus the same AcquireSlot, Submit,
StoreAssets, Finalize around it) is computed from the emulated generation time:
``3 x ceil(G / 10) + 4`` transitions and ``ceil(G / 10)`` status calls.

With ``--template-timing`` the poll parameters are template.yaml's own, in real seconds (not
divided by the scale), and the emulator runs at ``--scale``: a deployment with the defaults
and a provider ``--scale`` times faster. The lost-webhook phase is left out then (its first
check comes after FirstStatusCheckSeconds, minutes of real time).

Targets (exit 1 when one is missed):

- webhook mode: <= 8 transitions and 0 provider status calls, for every job;
- 3-minute generation: the naive loop takes >= 7x the transitions we take (medians);
- with ``--template-timing``: no webhooks, every job ends within 45 s of its POST.

    .venv/bin/python bench/orchestration.py [--jobs 3] [--scale 15]
        [--first-check 220] [--poll-interval 15] [--max-poll-interval 120]  # emulated s
    .venv/bin/python bench/orchestration.py --template-timing --scale 10
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import re
import secrets
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"

# The wait for a slot: a job that finds none parks once (a safety-net timeout sends it back
# to AcquireSlot, counted once by the scale bench).
SLOT_WAIT_STATES = frozenset({"ParkForSlot"})
NAIVE_FIXED_STATES = ("AcquireSlot", "Submit", "StoreAssets", "Finalize")
NAIVE_POLL_SECONDS = 10
NAIVE_STATES_PER_POLL = 3  # Wait, Task (GET), Choice
LONG_GENERATION_SECONDS = 180.0

# Real seconds after an execution ends before its Lambda calls are counted (the local SQS
# poller wakes every 0.1 s).
SETTLE_SECONDS = 0.5

MAX_TRANSITIONS = 8
MAX_STATUS_CALLS = 0
MAX_NO_WEBHOOK_SECONDS = 45.0
TEMPLATE_TIMING_NOTE = "template timing: poll parameters as in template.yaml, in real s\n"
MIN_NAIVE_RATIO = 7.0

MODEL = "sora-2"
CLIP_SECONDS = "4"
SIZE = "720x1280"


@dataclass(frozen=True)
class Phase:
    name: str
    drop_webhooks: bool
    # Emulated seconds the generation should take at the bench's scale; None = natural.
    generation_seconds: float | None = None
    # Runs before any webhook arrived: status checks start at PollIntervalSeconds.
    never_webhooks: bool = False
    # Starts with one uncounted job, so that a webhook has arrived before the counted ones.
    warm_up: bool = False


PHASES = (
    Phase("no-webhooks", drop_webhooks=True, never_webhooks=True),
    Phase("webhook", drop_webhooks=False, warm_up=True),
    Phase("polling", drop_webhooks=True),
    Phase("webhook-3min", drop_webhooks=False, generation_seconds=LONG_GENERATION_SECONDS),
)


@dataclass(frozen=True)
class JobResult:
    phase: str
    job_id: str
    video_id: str
    states: list[str]
    transitions: int
    slot_wait_transitions: int
    history_events: int
    invocations: Counter[str]
    status_calls: int
    generation_emulated: float
    detect_latency: float
    end_latency: float
    submit_to_end: float


# --- template defaults and the naive loop ----------------------------------------------------


def template_default(name: str) -> int:
    """A numeric parameter's Default in template.yaml."""
    text = TEMPLATE.read_text()
    match = re.search(rf"^  {re.escape(name)}:\n(?:    .*\n)*?    Default: (\d+)\s*$", text, re.M)
    if match is None:
        raise SystemExit(f"no numeric Default for {name} in {TEMPLATE}")
    return int(match.group(1))


def first_check_default(model: str, clip_seconds: int) -> float:
    """The template's FirstStatusCheckSeconds for one clip, in (emulated) seconds."""
    from videojobs.settings import Settings

    text = TEMPLATE.read_text()
    pattern = r"^  FirstStatusCheckSeconds:\n(?:    .*\n)*?    Default: '(.*)'\s*$"
    match = re.search(pattern, text, re.M)
    if match is None:
        raise SystemExit(f"no FirstStatusCheckSeconds Default in {TEMPLATE}")
    table = Settings.model_validate({"FIRST_STATUS_CHECK_SECONDS": match.group(1)})
    return float(table.first_status_check(model, clip_seconds))


def naive_polls(generation: float) -> int:
    return math.ceil(generation / NAIVE_POLL_SECONDS)


def naive_transitions(generation: float) -> int:
    return NAIVE_STATES_PER_POLL * naive_polls(generation) + len(NAIVE_FIXED_STATES)


def safety_net_checks(generation: float, first: float, maximum: float) -> int:
    """Status checks that fire before a completion ``generation`` s after submission.

    The check step doubles the interval up to the maximum. The provider's poll-after hint is
    left out: the emulator's is at most 10 emulated seconds, below any doubled interval here.
    """
    elapsed, interval, checks = 0.0, first, 0
    while elapsed + interval < generation:
        elapsed += interval
        checks += 1
        interval = min(maximum, interval * 2)
    return checks


def model_transitions(phase: Phase, generation: float, first: float, maximum: float) -> int:
    """What the state machine should take: AcquireSlot, Submit, Submitted?, AwaitCompletion,
    3 per status check (CheckStatus, Checked?, AwaitCompletion), then Woken? (webhook) or
    the last check's CheckStatus, Checked? (polling), StoreAssets, Finalize."""
    checks = safety_net_checks(generation, first, maximum)
    if phase.drop_webhooks:
        return 4 + 3 * checks + 4
    return 4 + 3 * checks + 3


# --- one job ---------------------------------------------------------------------------------


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _provider_video(local: Any, prompt: str) -> Any:
    # The emulator's record keeps float timestamps; its Video object rounds them to seconds.
    engine = local.emulator.emulator
    page = engine.list_videos(None, 100, "desc")["data"]
    ids = [video["id"] for video in page if video["prompt"] == prompt]
    if len(ids) != 1:
        raise SystemExit(f"expected one provider video for {prompt!r}, found {len(ids)}")
    return engine._videos[ids[0]]


def run_job(local: Any, http: Any, phase: Phase, index: int, scale: float) -> JobResult:
    sfn = local.stack.client("stepfunctions")
    machine = local.state()["state_machine_arn"]
    prompt = f"orchestration bench {phase.name} {index} {secrets.token_hex(4)}"
    window_start = time.time()
    response = http.post(
        f"{local.api_url}/videos",
        json={"prompt": prompt, "seconds": CLIP_SECONDS, "size": SIZE},
        headers={"Authorization": f"Bearer {local.api_key}"},
    )
    if response.status_code != 200:
        raise SystemExit(f"POST /videos answered {response.status_code}: {response.text}")
    job_id = response.json()["id"]
    execution_arn = machine.replace(":stateMachine:", ":execution:") + ":" + job_id
    # Waits on the execution (in-process DescribeExecution), never on GET /v1/videos/{id}:
    # a job read refreshes progress from the provider and would add status calls.
    described = local.stack.wait_for_execution(execution_arn, timeout=600)
    if described["status"] != "SUCCEEDED":
        raise SystemExit(f"{job_id}: execution {described['status']}")
    # Follow-ups of the end (the queue-fed notify function) arrive a poll or two later; let
    # them land in this job's window rather than the next one's.
    time.sleep(SETTLE_SECONDS)
    local.stack.wait_idle(timeout=30)

    events = _history(sfn, execution_arn)
    entered = [
        (event["stateEnteredEventDetails"]["name"], event["timestamp"].timestamp())
        for event in events
        if event["type"].endswith("StateEntered")
    ]
    states = [name for name, _ in entered if name not in SLOT_WAIT_STATES]
    store_entered = next(at for name, at in entered if name == "StoreAssets")
    succeeded = next(
        event["timestamp"].timestamp() for event in events if event["type"] == "ExecutionSucceeded"
    )
    video = _provider_video(local, prompt)
    status_path = f"/v1/videos/{video.id}"
    status_calls = sum(
        1
        for request in local.emulator.requests()
        if request["method"] == "GET" and request["path"] == status_path
    )
    invocations = Counter(
        record.function_logical_id.removesuffix("Function")
        for record in list(local.stack.dispatcher.history)
        if record.started_at >= window_start
    )
    return JobResult(
        phase=phase.name,
        job_id=job_id,
        video_id=video.id,
        states=states,
        transitions=len(states),
        slot_wait_transitions=len(entered) - len(states),
        history_events=len(events),
        invocations=invocations,
        status_calls=status_calls,
        generation_emulated=(video.completed_at - video.created_at) * scale,
        detect_latency=store_entered - video.completed_at,
        end_latency=succeeded - video.completed_at,
        submit_to_end=succeeded - window_start,
    )


# --- report ----------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first, *rest = zip(cells, widths, strict=True)
    return "  ".join([first[0].ljust(first[1]), *(cell.rjust(width) for cell, width in rest)])


HEADER = (
    "phase",
    "job",
    "transitions",
    "(slot waits)",
    "history events",
    "lambda calls",
    "status calls",
    "generation (emul. s)",
    "completed->woken (s)",
    "completed->job done (s)",
    "POST->job done (s)",
)
WIDTHS = (max(len(p.name) for p in PHASES), *(len(h) for h in HEADER[1:]))


def job_row(result: JobResult, label: str, scale: float) -> str:
    return _row(
        (
            result.phase,
            label,
            str(result.transitions),
            str(result.slot_wait_transitions),
            str(result.history_events),
            str(sum(result.invocations.values())),
            str(result.status_calls),
            f"{result.generation_emulated:.1f}",
            f"{result.detect_latency:.3f} (~{result.detect_latency * scale:.0f})",
            f"{result.end_latency:.3f}",
            f"{result.submit_to_end:.2f}",
        ),
        WIDTHS,
    )


def median_row(phase: str, results: Sequence[JobResult], scale: float) -> str:
    def med(get: Callable[[JobResult], float]) -> float:
        return _median([get(r) for r in results])

    detect = med(lambda r: r.detect_latency)
    return _row(
        (
            phase,
            "median",
            f"{med(lambda r: r.transitions):g}",
            f"{med(lambda r: r.slot_wait_transitions):g}",
            f"{med(lambda r: r.history_events):g}",
            f"{med(lambda r: sum(r.invocations.values())):g}",
            f"{med(lambda r: r.status_calls):g}",
            f"{med(lambda r: r.generation_emulated):.1f}",
            f"{detect:.3f} (~{detect * scale:.0f})",
            f"{med(lambda r: r.end_latency):.3f}",
            f"{med(lambda r: r.submit_to_end):.2f}",
        ),
        WIDTHS,
    )


def run(args: argparse.Namespace) -> int:
    import httpx

    from videojobs_local.emulator.engine import QUEUE_SECONDS, generation_seconds
    from videojobs_local.local import run_local

    scale = args.scale
    if args.template_timing:
        # template.yaml's parameters as they are, in real seconds.
        poll_real = template_default("PollIntervalSeconds")
        max_poll_real = template_default("MaxPollIntervalSeconds")
        first_check_real = math.ceil(first_check_default(MODEL, int(CLIP_SECONDS)))
    else:
        poll_real = max(1, round(args.poll_interval / scale))
        max_poll_real = max(1, round(args.max_poll_interval / scale))
        first_check_real = math.ceil(args.first_check / scale)
    # While webhooks arrive, the submit step waits max(PollIntervalSeconds,
    # FirstStatusCheckSeconds) before the first check; with none ever, PollIntervalSeconds.
    # Each check doubles the wait up to the maximum.
    first = max(poll_real, first_check_real) * scale
    first_no_webhooks = poll_real * scale
    maximum = max_poll_real * scale
    natural = QUEUE_SECONDS[False] + generation_seconds(MODEL, CLIP_SECONDS)
    # The functions' INFO lines would bury the table; nothing measured depends on them.
    overrides = {"LogLevel": "WARN"}
    if not args.template_timing:
        # One number: the bench runs one model and clip length only.
        overrides["FirstStatusCheckSeconds"] = str(first_check_real)
        overrides["PollIntervalSeconds"] = str(poll_real)
        overrides["MaxPollIntervalSeconds"] = str(max_poll_real)
    phases = [p for p in PHASES if not (args.template_timing and p.name == "polling")]

    def phase_first(phase: Phase) -> float:
        return first_no_webhooks if phase.never_webhooks else first

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
        f"time scale: 1 real s = {scale:g} emulated s (emulator speed {scale:g}); "
        f"{MODEL} {CLIP_SECONDS}-s clip = {natural:g} emulated s "
        f"({natural / scale:.2f} real s)\n"
        f"poll parameters: FirstStatusCheckSeconds={first_check_real}, PollIntervalSeconds="
        f"{poll_real}, MaxPollIntervalSeconds={max_poll_real} (real): first check "
        f"{first:g} emulated s after submission ({first_no_webhooks:g} before any webhook "
        f"arrived), then up to every {maximum:g} "
        f"(asked {args.first_check:g} / {args.poll_interval:g} / {args.max_poll_interval:g}; "
        f"template defaults {first_check_default(MODEL, int(CLIP_SECONDS)):g} for a {MODEL} "
        f"{CLIP_SECONDS}-s clip / {template_default('PollIntervalSeconds')} / "
        f"{template_default('MaxPollIntervalSeconds')})\n"
        f"{TEMPLATE_TIMING_NOTE if args.template_timing else ''}"
        f"jobs: {args.jobs} per phase, one at a time; latencies in real s "
        f"(~ emulated s for the wait, which scales; the store and finalize steps do not)\n",
        flush=True,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The functions' metrics (EMF lines on stdout) would bury the table too. The log level is
    # also set here because run_local may import the functions' logger before the stack's
    # environment (LogLevel) is in place.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    results: dict[str, list[JobResult]] = {phase.name: [] for phase in phases}
    started = time.monotonic()
    with (
        run_local(emulator_speed=scale, parameter_overrides=overrides) as local,
        httpx.Client(timeout=30.0) as http,
    ):
        print(f"local stack up in {time.monotonic() - started:.1f} s\n", flush=True)
        print(_row(HEADER, WIDTHS), flush=True)
        for phase in phases:
            local.emulator.set_faults(
                webhooks={"mode": "drop", "count": None} if phase.drop_webhooks else None
            )
            target = phase.generation_seconds or natural
            # Slower provider clock, same stack scale: the clip takes `target` emulated s.
            local.emulator.update_config(speed=scale * natural / target)
            if phase.warm_up:
                # Until a webhook has arrived the stack checks early, as it would for a
                # provider that sends none; one job that gets its webhook comes first.
                result = run_job(local, http, phase, -1, scale)
                print(job_row(result, "warm-up", scale), flush=True)
            for index in range(args.jobs):
                result = run_job(local, http, phase, index, scale)
                results[phase.name].append(result)
                print(job_row(result, f"{index + 1}/{args.jobs}", scale), flush=True)
                expected = model_transitions(
                    phase, result.generation_emulated, phase_first(phase), maximum
                )
                if result.transitions != expected:
                    print(
                        f"    note: the schedule predicts {expected} transitions; the stack ran "
                        "late or early (a busy machine stretches real-time waits)",
                        flush=True,
                    )
        local.emulator.set_faults(webhooks=None)
        local.emulator.update_config(speed=scale)
    elapsed = time.monotonic() - started

    print()
    print(_row(HEADER, WIDTHS))
    for phase in phases:
        print(median_row(phase.name, results[phase.name], scale))
    print()
    for phase in phases:
        first_job = results[phase.name][0]
        calls = ", ".join(f"{name} {n}" for name, n in sorted(first_job.invocations.items()))
        print(f"{phase.name} job 1 states: {' > '.join(first_job.states)}")
        print(f"{phase.name} job 1 lambda calls: {calls}")
    print()

    verdict = {True: "ok", False: "MISSED"}
    lines = [
        "naive loop (poll every 10 emulated s: Wait + Task + Choice per poll, plus AcquireSlot, "
        "Submit, StoreAssets, Finalize):"
    ]
    for phase in phases:
        phase_results = results[phase.name]
        # History timestamps are in ms and the scheduler wakes a few ms late: 0.1 emulated s
        # is the precision, and keeps a 180.03-s reading from counting a 19th naive poll.
        generation = round(_median([r.generation_emulated for r in phase_results]), 1)
        ours = _median([r.transitions for r in phase_results])
        naive = naive_transitions(generation)
        predicted = model_transitions(phase, generation, phase_first(phase), maximum)
        lines.append(
            f"  {phase.name:12}  G = {generation:5.1f} emulated s: naive {naive} transitions, "
            f"{naive_polls(generation)} status calls | ours {ours:g} transitions "
            f"(model {predicted}), {_median([r.status_calls for r in phase_results]):g} status "
            f"calls | ours/naive {ours / naive:.3f}, naive/ours {naive / ours:.2f}x"
        )
    long_naive = naive_transitions(LONG_GENERATION_SECONDS)
    long_ours = _median([r.transitions for r in results["webhook-3min"]])
    long_ratio = long_naive / long_ours
    lines.append(
        f"  3-minute generation ({LONG_GENERATION_SECONDS:g} s): naive "
        f"{naive_polls(LONG_GENERATION_SECONDS)} x 3 + 4 = {long_naive} transitions; ours "
        f"(webhook-3min, measured) {long_ours:g}; ours/naive {long_ours / long_naive:.3f}, "
        f"naive/ours {long_ratio:.2f}x"
    )
    print("\n".join(lines))

    webhook = results["webhook"]
    worst_transitions = max(r.transitions for r in webhook)
    worst_calls = max(r.status_calls for r in webhook)
    transitions_ok = worst_transitions <= MAX_TRANSITIONS
    calls_ok = worst_calls <= MAX_STATUS_CALLS
    ratio_ok = long_ratio >= MIN_NAIVE_RATIO
    slowest = max(r.submit_to_end for r in results["no-webhooks"])
    # The 45-s promise is for the template's own timing; scaled runs report it only.
    no_webhook_ok = slowest <= MAX_NO_WEBHOOK_SECONDS or not args.template_timing
    no_webhook_line = (
        f"  no webhooks, POST to job done (worst of {len(results['no-webhooks'])}): "
        f"{slowest:.1f} real s"
        + (
            f" (target <= {MAX_NO_WEBHOOK_SECONDS:g} s): {verdict[no_webhook_ok]}\n"
            if args.template_timing
            else " (target only with --template-timing)\n"
        )
    )
    print(
        f"\ntargets:\n"
        f"  webhook mode, transitions per job (worst of {len(webhook)}): {worst_transitions} "
        f"(target <= {MAX_TRANSITIONS}): {verdict[transitions_ok]}\n"
        f"  webhook mode, status calls per job (worst of {len(webhook)}): {worst_calls} "
        f"(target <= {MAX_STATUS_CALLS}): {verdict[calls_ok]}\n"
        f"  3-minute generation, naive/ours transitions: {long_ratio:.2f}x "
        f"(target >= {MIN_NAIVE_RATIO:g}x): {verdict[ratio_ok]}\n"
        f"{no_webhook_line}"
        f"run took {elapsed:.0f} s; load average at end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if not (transitions_ok and calls_ok and ratio_ok):
        short = safety_net_checks(natural, first, maximum)
        long = safety_net_checks(LONG_GENERATION_SECONDS, first, maximum)
        print(
            f"\nwhy: in webhook mode every transition and status call above the 7-state path "
            f"comes from the safety-net checks. They start {first:g} emulated s after submission "
            f"and double up to {maximum:g} s, so {short} fire before a {natural:g}-s generation "
            f"ends and {long} before a {LONG_GENERATION_SECONDS:g}-s one, each adding "
            "CheckStatus, Checked?, AwaitCompletion and a GET although the webhook is coming. "
            "Only a first check later than the generation (FirstStatusCheckSeconds) keeps a "
            "job at 7 transitions."
        )
    return 0 if transitions_ok and calls_ok and ratio_ok and no_webhook_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=3, help="jobs per phase (default 3)")
    parser.add_argument(
        "--scale",
        type=float,
        default=15.0,
        help="emulated seconds per real second, for the provider and the poll parameters "
        "(default 15)",
    )
    parser.add_argument(
        "--first-check",
        type=float,
        default=None,
        help=f"first status check after submission, emulated s (default: template.yaml's "
        f"FirstStatusCheckSeconds for a {MODEL} {CLIP_SECONDS}-s clip)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="shortest status-check interval, emulated s (default: template.yaml's)",
    )
    parser.add_argument(
        "--max-poll-interval",
        type=float,
        default=None,
        help="longest status-check interval, emulated s (default: template.yaml's)",
    )
    parser.add_argument(
        "--template-timing",
        action="store_true",
        help="poll parameters as in template.yaml, in real seconds (not scaled); the emulator "
        "still runs at --scale; leaves out the lost-webhook phase",
    )
    args = parser.parse_args(argv)
    if args.first_check is None:
        args.first_check = first_check_default(MODEL, int(CLIP_SECONDS))
    if args.poll_interval is None:
        args.poll_interval = float(template_default("PollIntervalSeconds"))
    if args.max_poll_interval is None:
        args.max_poll_interval = float(template_default("MaxPollIntervalSeconds"))
    if args.jobs < 1 or args.scale <= 0:
        parser.error("--jobs and --scale must be positive")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
