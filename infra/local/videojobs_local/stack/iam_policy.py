"""IAM identity policies of a template's roles, and their evaluation.

A role's statements come from what the template grants it: SAM policy templates
(``DynamoDBCrudPolicy: {TableName: ...}`` and the rest, expanded as SAM does from
``sam_policy_templates.json``, the ``policy_templates.json`` of aws-sam-translator 1.115.0,
Apache-2.0, kept here because that package pins pydantic to a narrower range than the
functions use), inline policy
documents (``- Statement: [...]``) and, for an explicit ``Role``, the inline ``Policies`` of
that ``AWS::IAM::Role``. Managed policies (a name or ARN in ``Policies``,
``ManagedPolicyArns``) are not expanded: they grant nothing here, and are logged.

Evaluation follows IAM's identity-policy logic: an explicit Deny wins, otherwise an Allow
whose action and resource match, otherwise an implicit deny. Actions match case-insensitively
and resources case-sensitively, both with the ``*`` and ``?`` wildcards. ``Condition``
blocks are not evaluated (a conditional statement applies as if its condition held);
permission boundaries, SCPs, session policies, resource policies and KMS key policies are
not part of the decision.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .template import Resolver

SAM_POLICY_TEMPLATES = Path(__file__).with_name("sam_policy_templates.json")

logger = logging.getLogger(__name__)


class Decision(enum.Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Statement:
    """One statement of an identity policy, its intrinsics resolved."""

    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    conditional: bool = False
    # Where it came from in the template: a policy template name, or "Statement".
    source: str = "Statement"

    def matches_action(self, action: str) -> bool:
        if self.not_actions is not None:
            return not any(_matches(p, action, ignore_case=True) for p in self.not_actions)
        return any(_matches(p, action, ignore_case=True) for p in self.actions)

    def matches_resource(self, resource: str) -> bool:
        if self.not_resources is not None:
            return not any(_matches(p, resource) for p in self.not_resources)
        return any(_matches(p, resource) for p in self.resources)


@dataclass(frozen=True)
class Role:
    """A principal of the stack: the role a function or a state machine runs with."""

    owner: str  # logical id of the function or state machine
    arn: str
    session_name: str
    statements: tuple[Statement, ...]

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def session_arn(self) -> str:
        """The assumed-role ARN AWS names in an access-denied message."""
        parts = self.arn.split(":")
        partition, account = parts[1], parts[4]
        return f"arn:{partition}:sts::{account}:assumed-role/{self.name}/{self.session_name}"


@functools.lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    expression = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(expression, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


def evaluate(
    statements: Iterable[Statement], action: str, resource: str
) -> tuple[Decision, list[Statement]]:
    """The decision for one action on one resource, and the Allow statements that grant it."""
    allowing: list[Statement] = []
    for statement in statements:
        if not (statement.matches_action(action) and statement.matches_resource(resource)):
            continue
        if statement.effect == "Deny":
            return Decision.EXPLICIT_DENY, []
        allowing.append(statement)
    return (Decision.ALLOWED if allowing else Decision.IMPLICIT_DENY), allowing


# ---------------------------------------------------------------- expansion


@functools.lru_cache(maxsize=1)
def sam_policy_templates() -> dict[str, Any]:
    """SAM's policy templates by name: each a ``Definition`` and its ``Parameters``."""
    templates: dict[str, Any] = json.loads(SAM_POLICY_TEMPLATES.read_text())["Templates"]
    return templates


def sam_policy_document(name: str, values: Mapping[str, Any]) -> Any:
    """A policy template's document with its parameters replaced by ``values``, as SAM does.

    Only the template's own parameters are substituted (``Ref: TableName``); pseudo
    parameters and the rest are left for CloudFormation to resolve.
    """
    template = sam_policy_templates()[name]
    parameters = set(template.get("Parameters") or {})
    missing = sorted(parameters - set(values))
    if missing:
        raise ValueError(f"{name}: missing parameter values {missing}")

    def substitute(node: Any) -> Any:
        if isinstance(node, list):
            return [substitute(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"} and node["Ref"] in parameters:
            return values[node["Ref"]]
        return {key: substitute(value) for key, value in node.items()}

    return substitute(template["Definition"])


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return (str(value),)


def statements_of_document(document: Mapping[str, Any], *, source: str) -> list[Statement]:
    """The statements of a policy document whose intrinsics are already resolved."""
    raw = document.get("Statement") or []
    if isinstance(raw, Mapping):
        raw = [raw]
    statements: list[Statement] = []
    for item in raw:
        effect = str(item.get("Effect", ""))
        if effect not in ("Allow", "Deny"):
            raise ValueError(f"{source}: statement Effect must be Allow or Deny, got {effect!r}")
        statements.append(
            Statement(
                effect=effect,
                actions=_strings(item.get("Action")),
                not_actions=_strings(item["NotAction"]) if "NotAction" in item else None,
                resources=_strings(item.get("Resource")),
                not_resources=_strings(item["NotResource"]) if "NotResource" in item else None,
                conditional=bool(item.get("Condition")),
                source=source,
            )
        )
    return statements


def expand_policies(policies: Any, resolver: Resolver, *, owner: str) -> list[Statement]:
    """Statements of a Serverless resource's resolved ``Policies`` property, as SAM grants them."""
    if policies is None:
        return []
    items = policies if isinstance(policies, list) else [policies]
    templates = sam_policy_templates()
    statements: list[Statement] = []
    for item in items:
        if isinstance(item, str):
            logger.warning(
                "%s: managed policy %s is not expanded locally and grants nothing here",
                owner,
                item,
            )
            continue
        if not isinstance(item, Mapping):
            raise ValueError(f"{owner}: unsupported Policies entry {item!r}")
        if "Statement" in item:
            statements.extend(statements_of_document(item, source="Statement"))
            continue
        if len(item) != 1:
            raise ValueError(f"{owner}: unsupported Policies entry {dict(item)!r}")
        ((name, parameters),) = item.items()
        if name not in templates:
            raise ValueError(f"{owner}: {name} is not a SAM policy template")
        document = resolver.resolve(sam_policy_document(name, dict(parameters or {})))
        statements.extend(statements_of_document(document, source=name))
    return statements


def role_policy_statements(role_properties: Mapping[str, Any], *, owner: str) -> list[Statement]:
    """Statements of an ``AWS::IAM::Role``'s inline ``Policies`` (resolved properties)."""
    statements: list[Statement] = []
    for policy in role_properties.get("Policies") or []:
        document = policy.get("PolicyDocument") or {}
        statements.extend(
            statements_of_document(document, source=str(policy.get("PolicyName", "inline")))
        )
    for arn in role_properties.get("ManagedPolicyArns") or []:
        logger.warning("%s: managed policy %s is not expanded locally", owner, arn)
    return statements
