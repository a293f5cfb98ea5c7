"""``videojobs keys create|list|revoke|rotate-secret`` and ``videojobs tenants budget``: API
keys, tenants and their callback secrets, for an operator.

With ``--state-file`` the commands work on the local stack (the moto endpoint that
``videojobs local up`` wrote there); otherwise on the deployed stack, whose table names are
read from its CloudFormation outputs (``--stack-name``, default: samconfig.toml's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from videojobs.models.errors import InvalidRequestError

# What the deployed stack publishes as outputs (table names, the callback-secret key), and the
# variable the functions' modules read each from.
_OUTPUT_VARIABLES = {
    "ApiKeysTableName": "API_KEYS_TABLE",
    "TenantsTableName": "TENANTS_TABLE",
    "CallbackSecretKeyArn": "CALLBACK_SECRET_KEY_ID",
}
_STATE_VARIABLES = {
    "api_keys_table": "API_KEYS_TABLE",
    "tenants_table": "TENANTS_TABLE",
    "callback_secret_key": "CALLBACK_SECRET_KEY_ID",
}
# Keeps a profile's endpoint or credentials from sending a local request elsewhere.
_LOCAL_HIDDEN = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


class TargetError(Exception):
    """The stack to work on could not be found (bad state file, samconfig or stack)."""


def register(commands: Any) -> None:
    """Add the ``keys`` command group to the CLI's sub-parsers."""
    target = argparse.ArgumentParser(add_help=False)
    where = target.add_argument_group("which stack")
    where.add_argument(
        "--state-file", help="the local stack's state file (written by `videojobs local up`)"
    )
    where.add_argument("--stack-name", help="deployed stack (default: samconfig.toml's)")
    where.add_argument("--config-file", default="samconfig.toml", help="SAM config to read")
    where.add_argument("--config-env", default="default", help="SAM config environment")
    where.add_argument("--region", help="AWS region of the deployed stack")

    keys = commands.add_parser("keys", help="API keys and tenants")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser(
        "create", parents=[target], help="new API key (and tenant, if new); prints JSON"
    )
    create.add_argument("--tenant", required=True, help="tenant id, e.g. acme")
    create.set_defaults(func=cmd_create)

    listing = actions.add_parser("list", parents=[target], help="list keys (never the keys)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.set_defaults(func=cmd_list)

    revoke = actions.add_parser("revoke", parents=[target], help="revoke a key by its key id")
    revoke.add_argument("key_id", help="the key id, key_...")
    revoke.set_defaults(func=cmd_revoke)

    rotate = actions.add_parser(
        "rotate-secret",
        parents=[target],
        help="new callback secret for a tenant; prints JSON",
        description="Callbacks carry signatures with both the old and the new secret for the "
        "overlap, then with the new one only.",
    )
    rotate.add_argument("--tenant", required=True, help="tenant id, e.g. acme")
    rotate.add_argument(
        "--overlap-hours",
        type=float,
        default=24.0,
        help="how long the old secret keeps signing too (default 24)",
    )
    rotate.set_defaults(func=cmd_rotate_secret)

    tenants = commands.add_parser("tenants", help="tenants' budgets")
    tenant_actions = tenants.add_subparsers(dest="tenants_command", required=True)
    budget = tenant_actions.add_parser(
        "budget",
        parents=[target],
        help="show or set a tenant's daily and monthly budgets (USD); prints JSON",
        description="Budgets apply from the next submit; UTC days and months. Without "
        "--daily or --monthly the current budgets are shown. 'none' lifts a budget.",
    )
    budget.add_argument("--tenant", required=True, help="tenant id, e.g. acme")
    budget.add_argument(
        "--daily", type=_budget_amount, metavar="USD|none", help="most spent per UTC day"
    )
    budget.add_argument(
        "--monthly", type=_budget_amount, metavar="USD|none", help="most spent per UTC month"
    )
    budget.set_defaults(func=cmd_budget)


class _Unlimited:
    """``--daily none``: lift the budget (distinct from leaving the option out)."""


_UNLIMITED = _Unlimited()


def _budget_amount(value: str) -> int | _Unlimited:
    """A budget option: USD (``10``, ``12.50``) as micro-dollars, or ``none``."""
    from videojobs.models.money import micros_from_usd

    if value.strip().lower() in {"none", "unlimited"}:
        return _UNLIMITED
    try:
        micros = micros_from_usd(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected USD or 'none', got {value!r}") from None
    if micros < 0:
        raise argparse.ArgumentTypeError(f"a budget cannot be negative: {value!r}")
    return micros


def _local_environment(state_file: Path) -> dict[str, str | None]:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read the state file {state_file}: {exc}") from exc
    missing = [k for k in ("aws_endpoint_url", "region", *_STATE_VARIABLES) if not state.get(k)]
    if missing:
        raise TargetError(
            f"the state file {state_file} has no {', '.join(missing)}; "
            "restart `videojobs local up` to rewrite it"
        )
    environment: dict[str, str | None] = {
        variable: str(state[key]) for key, variable in _STATE_VARIABLES.items()
    }
    environment.update(
        {
            "AWS_ENDPOINT_URL": str(state["aws_endpoint_url"]),
            "AWS_DEFAULT_REGION": str(state["region"]),
            "AWS_REGION": str(state["region"]),
            # moto accepts any credentials; real ones must not be sent to it.
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": None,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    environment.update(dict.fromkeys(_LOCAL_HIDDEN))
    environment.update(dict.fromkeys(n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_")))
    return environment


def default_stack_name(config_file: Path, config_env: str) -> str:
    """The stack name ``sam deploy`` uses: ``[<env>.global.parameters] stack_name``."""
    try:
        config = tomllib.loads(config_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"cannot read {config_file}: {exc}; pass --stack-name") from exc
    for section in ("global", "deploy"):
        name = config.get(config_env, {}).get(section, {}).get("parameters", {}).get("stack_name")
        if name:
            return str(name)
    raise TargetError(f"{config_file} names no stack_name for [{config_env}]; pass --stack-name")


def _deployed_environment(args: argparse.Namespace) -> dict[str, str | None]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    stack_name = args.stack_name or default_stack_name(Path(args.config_file), args.config_env)
    environment: dict[str, str | None] = {}
    if args.region:
        environment.update({"AWS_DEFAULT_REGION": args.region, "AWS_REGION": args.region})
    try:
        cloudformation = boto3.client("cloudformation", region_name=args.region)
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        raise TargetError(f"cannot read the stack {stack_name}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in _OUTPUT_VARIABLES if name not in outputs]
    if missing:
        raise TargetError(f"the stack {stack_name} has no output {', '.join(missing)}")
    environment.update({variable: outputs[o] for o, variable in _OUTPUT_VARIABLES.items()})
    return environment


@contextmanager
def _targeting(environment: Mapping[str, str | None]) -> Iterator[None]:
    """Point the data-access modules at a stack; the process environment is restored after."""
    from videojobs.adapters import aws
    from videojobs.settings import get_settings

    saved = {name: os.environ.get(name) for name in environment}

    def apply(values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        aws.reset_clients()

    apply(environment)
    try:
        yield
    finally:
        apply(saved)


@contextmanager
def _stack(args: argparse.Namespace) -> Iterator[None]:
    if args.state_file:
        environment = _local_environment(Path(args.state_file))
    else:
        environment = _deployed_environment(args)
    with _targeting(environment):
        yield


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _fail(message: str, command: str = "keys") -> int:
    print(f"videojobs {command}: {message}", file=sys.stderr)
    return 2


def cmd_create(args: argparse.Namespace) -> int:
    """Create a key for a tenant (and the tenant, with its callback secret, if it is new).

    The callback secret is printed when the tenant is created, and never again: nothing but
    the callbacks function can decrypt it. ``rotate-secret`` makes a new one.
    """
    from videojobs.adapters.dal import api_keys, tenants
    from videojobs.logic import tenant_admin

    try:
        tenant_id = tenants.checked_tenant_id(args.tenant)
        with _stack(args):
            tenant, secret = tenant_admin.ensure_tenant(tenant_id)
            api_key, record = api_keys.create(tenant.tenant_id)
    except (TargetError, InvalidRequestError) as exc:
        return _fail(str(exc))
    _print(
        {
            "api_key": api_key,
            "tenant_id": tenant.tenant_id,
            "callback_secret": secret,
            "key_id": record.key_id,
        }
    )
    return 0


def cmd_rotate_secret(args: argparse.Namespace) -> int:
    """Give a tenant a new callback secret; the old one keeps signing for the overlap."""
    from videojobs.adapters.dal import tenants
    from videojobs.logic import tenant_admin
    from videojobs.models.errors import StaleTransitionError

    if args.overlap_hours < 0:
        return _fail("--overlap-hours cannot be negative")
    try:
        tenant_id = tenants.checked_tenant_id(args.tenant)
        with _stack(args):
            tenant, secret = tenant_admin.rotate_callback_secret(
                tenant_id, overlap_seconds=int(args.overlap_hours * 3600)
            )
    except (TargetError, InvalidRequestError) as exc:
        return _fail(str(exc))
    except StaleTransitionError:
        return _fail("the secret was rotated by someone else meanwhile; run the command again")
    _print(
        {
            "tenant_id": tenant.tenant_id,
            "callback_secret": secret,
            "previous_secret_signs_until": tenant.previous_callback_secret_until,
        }
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """List keys: ids, tenants, dates and whether revoked; never the keys or their hashes."""
    from videojobs.adapters.dal import api_keys

    try:
        with _stack(args):
            records = api_keys.list_keys(args.tenant)
    except TargetError as exc:
        return _fail(str(exc))
    _print([record.model_dump(exclude={"key_hash"}) for record in records])
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke a key: the authorizer refuses it from the next request on."""
    from videojobs.adapters.dal import api_keys

    try:
        with _stack(args):
            record = api_keys.revoke(args.key_id)
    except TargetError as exc:
        return _fail(str(exc))
    if record is None:
        print(f"videojobs keys: no key with id {args.key_id!r}", file=sys.stderr)
        return 1
    _print(record.model_dump(exclude={"key_hash"}))
    return 0


def cmd_budget(args: argparse.Namespace) -> int:
    """Show or set a tenant's budgets (the tenant is created if it does not exist yet)."""
    from videojobs.adapters.dal import tenants
    from videojobs.logic import tenant_admin

    changes: dict[str, int | None] = {}
    for name, value in (("daily_micros", args.daily), ("monthly_micros", args.monthly)):
        if value is not None:
            changes[name] = None if isinstance(value, _Unlimited) else value
    try:
        tenant_id = tenants.checked_tenant_id(args.tenant)
        with _stack(args):
            tenant, _ = tenant_admin.ensure_tenant(tenant_id)
            if changes:
                tenant = tenants.set_budgets(tenant_id, **changes)
    except (TargetError, InvalidRequestError) as exc:
        return _fail(str(exc), "tenants")
    _print(
        {
            "tenant_id": tenant.tenant_id,
            "daily_budget_usd": tenant.daily_budget_usd,
            "monthly_budget_usd": tenant.monthly_budget_usd,
        }
    )
    return 0
