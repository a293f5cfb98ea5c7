"""``videojobs status``: how a stack is doing, for an operator.

Jobs created in the last hour by status, the slot line (slots in use, jobs waiting for one),
each dead-letter queue's depth and the most recent failures with their codes. With
``--state-file`` it reads the local stack; otherwise the deployed stack ``--stack-name``
(default: samconfig.toml's), with AWS credentials found as the AWS CLI finds them. It needs
read access to the stack's resources, its jobs, control and tenants tables, and its queues.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from videojobs_local.cli_keys import TargetError, _local_environment, _targeting, default_stack_name

# The template's logical ids of what status reads, and the variable the DAL reads each from.
_TABLES = {
    "JobsTable": "JOBS_TABLE",
    "ControlTable": "CONTROL_TABLE",
    "TenantsTable": "TENANTS_TABLE",
}
_STATE_TABLES = {"jobs_table": "JOBS_TABLE", "control_table": "CONTROL_TABLE"}


def register(commands: Any) -> None:
    """Add the ``status`` command to the CLI's sub-parsers."""
    status = commands.add_parser(
        "status",
        help="jobs in the last hour, the slot line, dead letters, recent failures",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    where = status.add_argument_group("which stack")
    where.add_argument(
        "--state-file", help="the local stack's state file (written by `videojobs local up`)"
    )
    where.add_argument("--stack-name", help="deployed stack (default: samconfig.toml's)")
    where.add_argument("--config-file", default="samconfig.toml", help="SAM config to read")
    where.add_argument("--config-env", default="default", help="SAM config environment")
    where.add_argument("--region", help="AWS region of the deployed stack")
    status.add_argument(
        "--window-minutes", type=int, default=60, help="how far back to count jobs (default 60)"
    )
    status.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    status.set_defaults(func=cmd_status)


def _local_target(state_file: Path) -> tuple[dict[str, str | None], dict[str, str]]:
    environment = _local_environment(state_file)
    state = json.loads(state_file.read_text())
    missing = [key for key in (*_STATE_TABLES, "dead_letter_queues") if key not in state]
    if missing:
        raise TargetError(
            f"the state file {state_file} has no {', '.join(missing)}; "
            "restart `videojobs local up` to rewrite it"
        )
    environment.update({variable: str(state[key]) for key, variable in _STATE_TABLES.items()})
    return environment, {str(k): str(v) for k, v in state["dead_letter_queues"].items()}


def _deployed_target(args: argparse.Namespace) -> tuple[dict[str, str | None], dict[str, str]]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    stack_name = args.stack_name or default_stack_name(Path(args.config_file), args.config_env)
    environment: dict[str, str | None] = {}
    if args.region:
        environment.update({"AWS_DEFAULT_REGION": args.region, "AWS_REGION": args.region})
    physical: dict[str, tuple[str, str]] = {}
    try:
        cloudformation = boto3.client("cloudformation", region_name=args.region)
        for page in cloudformation.get_paginator("list_stack_resources").paginate(
            StackName=stack_name
        ):
            for resource in page["StackResourceSummaries"]:
                physical[resource["LogicalResourceId"]] = (
                    resource["ResourceType"],
                    resource.get("PhysicalResourceId", ""),
                )
    except (BotoCoreError, ClientError) as exc:
        raise TargetError(f"cannot read the stack {stack_name}: {exc}") from exc
    missing = [name for name in _TABLES if not physical.get(name, ("", ""))[1]]
    if missing:
        raise TargetError(f"the stack {stack_name} has no {', '.join(missing)}")
    environment.update({variable: physical[name][1] for name, variable in _TABLES.items()})
    dead_letters = {
        name: url
        for name, (kind, url) in physical.items()
        if kind == "AWS::SQS::Queue" and name.endswith("DeadLetterQueue") and url
    }
    return environment, dead_letters


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(status: Any) -> str:
    """The snapshot as a few lines of text."""
    minutes = status.window_seconds // 60
    counts = ", ".join(f"{name} {count}" for name, count in status.jobs_by_status.items())
    dead = ", ".join(f"{name} {depth}" for name, depth in status.dead_letters.items()) or "none"
    lines = [
        f"as of {_iso(status.as_of)}",
        f"jobs created in the last {minutes} min: {counts}",
        f"slots in use: {status.slots_in_use}; jobs waiting for a slot: "
        f"{status.jobs_waiting_for_slot}",
        f"dead-letter queues (messages): {dead}",
    ]
    if status.recent_failures:
        lines.append("recent failures:")
        for failure in status.recent_failures:
            lines.append(
                f"  {_iso(failure.failed_at)} {failure.job_id} tenant={failure.tenant_id} "
                f"code={failure.code} correlation_id={failure.correlation_id}: {failure.message}"
            )
    else:
        lines.append(f"recent failures: none in the last {minutes} min")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    """Print the stack's status; exit 2 when the stack cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from videojobs.logic import service_status

    if args.window_minutes < 1:
        print("videojobs status: --window-minutes must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.state_file:
            environment, dead_letters = _local_target(Path(args.state_file))
        else:
            environment, dead_letters = _deployed_target(args)
        with _targeting(environment):
            status = service_status.snapshot(dead_letters, window_seconds=args.window_minutes * 60)
    except (TargetError, BotoCoreError, ClientError) as exc:
        print(f"videojobs status: {exc}", file=sys.stderr)
        return 2
    print(status.model_dump_json(indent=2) if args.json else render(status))
    return 0
