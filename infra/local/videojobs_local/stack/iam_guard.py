"""Check every AWS call a function or a state machine makes against its role.

The seam is botocore's ``BaseClient._make_api_call``: every call of every boto3 client in
this process passes through it before moto (in-process or over HTTP to the moto server)
sees it, in the caller's thread. Who is calling is a context variable:

* `LambdaDispatcher` sets it to the function's role for the duration of each invocation;
* each Step Functions execution sets it to the state machine's role in its worker thread,
  and the threads moto's interpreter starts for a state (timeouts, callbacks, Parallel,
  Map) inherit it, so direct service integrations (``dynamodb:updateItem``,
  ``lambda:invoke``) are checked against the state machine's role.

Calls made outside both (tests, the CLI's admin calls, the local stack's own provisioning
and pollers) are not checked, nor are calls from threads a handler starts itself (the
context does not follow a plain ``threading.Thread``) or requests to presigned URLs.

Each call is mapped to the IAM actions and resource ARNs AWS authorizes it with (S3 object
ARNs, DynamoDB table and index ARNs, secret, queue, state machine, execution and event bus
ARNs); a denied call raises the ClientError AWS would (``AccessDenied`` for S3 and SQS,
``AccessDeniedException`` elsewhere) with AWS's message. With a ``record`` path, every
grant of the stack's roles and each one a call used are appended there as JSON lines when
the guard stops (see `iam_report`).
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.client import BaseClient

from .iam_policy import (
    Decision,
    Role,
    Statement,
    evaluate,
    expand_policies,
    role_policy_statements,
)
from .provision import FunctionSpec, Stack, StateMachineSpec
from .template import Resolver

logger = logging.getLogger(__name__)

# A hook around one checked call: (client, operation, parameters, role, make the call).
CallHook = Callable[[BaseClient, str, Any, Role, Callable[[], Any]], Any]

_PRINCIPAL: contextvars.ContextVar[Role | None] = contextvars.ContextVar(
    "videojobs_local_principal", default=None
)


@contextmanager
def acting_as(role: Role | None) -> Iterator[None]:
    """Run the block's AWS calls as ``role`` (None: unchecked)."""
    token = _PRINCIPAL.set(role)
    try:
        yield
    finally:
        _PRINCIPAL.reset(token)


def current_principal() -> Role | None:
    return _PRINCIPAL.get()


# ------------------------------------------------------------------ the roles


def roles_of_stack(stack: Stack) -> dict[str, Role]:
    """The role of every function (by name) and state machine (by ARN) of a stack."""
    resolver = stack.template.resolver(stack.resources)
    explicit_roles = {
        record.attributes.get("Arn"): logical_id
        for logical_id, record in stack.resources.items()
        if record.resource_type == "AWS::IAM::Role" and logical_id in stack.template.resources
    }
    roles: dict[str, Role] = {}
    for function in stack.functions.values():
        statements = _statements(stack, resolver, explicit_roles, function.role_arn, function)
        roles[function.name] = Role(
            owner=function.logical_id,
            arn=function.role_arn,
            session_name=function.name,
            statements=tuple(statements),
        )
    for machine in stack.state_machines.values():
        statements = _statements(stack, resolver, explicit_roles, machine.role_arn, machine)
        roles[machine.arn] = Role(
            owner=machine.logical_id,
            arn=machine.role_arn,
            # Step Functions names its session after the execution; one name stands for all.
            session_name=machine.name,
            statements=tuple(statements),
        )
    return roles


def _statements(
    stack: Stack,
    resolver: Resolver,
    explicit_roles: Mapping[Any, str],
    role_arn: str,
    owner: FunctionSpec | StateMachineSpec,
) -> list[Statement]:
    statements = expand_policies(owner.policies, resolver, owner=owner.logical_id)
    role_logical_id = explicit_roles.get(role_arn)
    if role_logical_id is not None:
        properties = resolver.resolve(
            stack.template.resources[role_logical_id].get("Properties") or {}
        )
        statements.extend(role_policy_statements(properties, owner=role_logical_id))
    return statements


# ----------------------------------------------------- call -> IAM permissions


@dataclass(frozen=True)
class CallContext:
    region: str
    account_id: str
    partition: str


Permission = tuple[str, str]  # (action, resource ARN)


def _arn(ctx: CallContext, service: str, resource: str, *, region: bool = True) -> str:
    region_part = ctx.region if region else ""
    return f"arn:{ctx.partition}:{service}:{region_part}:{ctx.account_id}:{resource}"


def _dynamodb(ctx: CallContext, operation: str, params: Mapping[str, Any]) -> list[Permission]:
    def table(name: str, index: str | None = None) -> str:
        base = name if name.startswith("arn:") else _arn(ctx, "dynamodb", f"table/{name}")
        return f"{base}/index/{index}" if index else base

    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table(name)) for name in params.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        # Transactions are authorized item by item, as the single-item actions.
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        permissions: list[Permission] = []
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                permissions.append((f"dynamodb:{kinds[kind]}", table(request["TableName"])))
        return permissions
    name = params.get("TableName")
    if name is None:
        return [(f"dynamodb:{operation}", "*")]
    index = params.get("IndexName") if operation in ("Query", "Scan") else None
    return [(f"dynamodb:{operation}", table(str(name), index))]


_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "GetObjectAcl": "s3:GetObjectAcl",
    "PutObjectAcl": "s3:PutObjectAcl",
    "RestoreObject": "s3:RestoreObject",
}
_S3_BUCKET_ACTIONS = {
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
}
_S3_VERSIONED = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion"}


def _s3(ctx: CallContext, operation: str, params: Mapping[str, Any]) -> list[Permission]:
    bucket = params.get("Bucket")
    if bucket is None:
        return [(f"s3:{operation}", "*")]
    bucket_arn = f"arn:{ctx.partition}:s3:::{bucket}"
    if operation == "DeleteObjects":
        objects = (params.get("Delete") or {}).get("Objects", [])
        return [("s3:DeleteObject", f"{bucket_arn}/{item['Key']}") for item in objects]
    if operation == "GetObjectAttributes":
        key_arn = f"{bucket_arn}/{params['Key']}"
        return [("s3:GetObject", key_arn), ("s3:GetObjectAttributes", key_arn)]
    if operation in _S3_OBJECT_ACTIONS or "Key" in params:
        action = _S3_OBJECT_ACTIONS.get(operation, f"s3:{operation}")
        if params.get("VersionId"):
            action = _S3_VERSIONED.get(action, action)
        permissions = [(action, f"{bucket_arn}/{params['Key']}")]
        source = params.get("CopySource")
        if source is not None:
            if isinstance(source, str):
                source_bucket, _, source_key = source.lstrip("/").partition("/")
                source_key = source_key.split("?versionId=", 1)[0]
            else:
                source_bucket, source_key = source["Bucket"], source["Key"]
            source_arn = f"arn:{ctx.partition}:s3:::{source_bucket}/{source_key}"
            permissions.append(("s3:GetObject", source_arn))
        return permissions
    return [(_S3_BUCKET_ACTIONS.get(operation, f"s3:{operation}"), bucket_arn)]


def _secret_arn(ctx: CallContext, secret_id: str) -> str:
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[ctx.account_id][ctx.region].secrets.get(secret_id)
    if secret is not None:
        return str(secret.arn)
    if secret_id.startswith("arn:"):
        return secret_id
    # AWS authorizes an unknown name against the ARN it would have (six random characters).
    return _arn(ctx, "secretsmanager", f"secret:{secret_id}-??????")


def _secretsmanager(
    ctx: CallContext, operation: str, params: Mapping[str, Any]
) -> list[Permission]:
    secret_id = params.get("SecretId")
    if secret_id is None:
        return [(f"secretsmanager:{operation}", "*")]
    return [(f"secretsmanager:{operation}", _secret_arn(ctx, str(secret_id)))]


def _sqs(ctx: CallContext, operation: str, params: Mapping[str, Any]) -> list[Permission]:
    # A batch is authorized as the single-message action.
    action = f"sqs:{operation.removesuffix('Batch')}"
    url = params.get("QueueUrl")
    if url is not None:
        parts = urlparse(str(url)).path.strip("/").split("/")
        account = parts[-2] if len(parts) >= 2 else ctx.account_id
        return [(action, f"arn:{ctx.partition}:sqs:{ctx.region}:{account}:{parts[-1]}")]
    name = params.get("QueueName")
    if name is not None:
        account = str(params.get("QueueOwnerAWSAccountId") or ctx.account_id)
        return [(action, f"arn:{ctx.partition}:sqs:{ctx.region}:{account}:{name}")]
    return [(action, "*")]


def _events(ctx: CallContext, operation: str, params: Mapping[str, Any]) -> list[Permission]:
    def bus(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else _arn(ctx, "events", f"event-bus/{name}")

    if operation == "PutEvents":
        buses = {bus(entry.get("EventBusName")) for entry in params.get("Entries", [])}
        return [("events:PutEvents", arn) for arn in sorted(buses)]
    if "Rule" in params or ("Name" in params and operation.endswith("Rule")):
        rule = str(params.get("Rule") or params.get("Name"))
        bus_name = params.get("EventBusName")
        on_default = not bus_name or bus_name == "default"
        path = f"rule/{rule}" if on_default else f"rule/{bus_name}/{rule}"
        return [(f"events:{operation}", _arn(ctx, "events", path))]
    return [(f"events:{operation}", "*")]


def _state_machine_of_token(ctx: CallContext, token: str) -> str | None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[ctx.account_id][ctx.region]
    for machine in list(backend.state_machines):
        for execution in list(machine.executions):
            environment = getattr(getattr(execution, "exec_worker", None), "env", None)
            if environment is None:
                continue
            if token in environment.callback_pool_manager._pool:
                return str(execution.state_machine_arn)
    return None


def _states(ctx: CallContext, operation: str, params: Mapping[str, Any]) -> list[Permission]:
    action = f"states:{operation}"
    if operation in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
        # A callback token is authorized against the state machine of its execution. A token
        # no execution knows is left to the service, which answers InvalidToken.
        machine = _state_machine_of_token(ctx, str(params.get("taskToken", "")))
        return [] if machine is None else [(action, machine)]
    for key in ("executionArn", "stateMachineArn", "activityArn", "resourceArn"):
        if params.get(key):
            return [(action, str(params[key]))]
    return [(action, "*")]


def _lambda(ctx: CallContext, operation: str, params: Mapping[str, Any]) -> list[Permission]:
    invoke = operation in ("Invoke", "InvokeAsync")
    action = "lambda:InvokeFunction" if invoke else f"lambda:{operation}"
    name = params.get("FunctionName")
    if name is None:
        return [(action, "*")]
    name = str(name)
    if not name.startswith("arn:"):
        qualifier = params.get("Qualifier")
        name = _arn(ctx, "lambda", f"function:{name}" + (f":{qualifier}" if qualifier else ""))
    return [(action, name)]


def _bedrock(ctx: CallContext, operation: str, params: Mapping[str, Any]) -> list[Permission]:
    # StartAsyncInvoke is authorized as bedrock:InvokeModel on the model (the API reference:
    # "This operation requires permission for the bedrock:InvokeModel action"); the output is
    # written with the caller's own s3:PutObject.
    if operation == "StartAsyncInvoke":
        model = str(params.get("modelId", ""))
        if not model.startswith("arn:"):
            model = f"arn:{ctx.partition}:bedrock:{ctx.region}::foundation-model/{model}"
        permissions = [("bedrock:InvokeModel", model)]
        output = (params.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}
        uri = urlparse(str(output.get("s3Uri", "")))
        if uri.scheme == "s3" and uri.netloc:
            prefix = uri.path.strip("/")
            path = f"{uri.netloc}/{prefix}/*" if prefix else f"{uri.netloc}/*"
            permissions.append(("s3:PutObject", f"arn:{ctx.partition}:s3:::{path}"))
        return permissions
    if operation == "GetAsyncInvoke" and params.get("invocationArn"):
        return [("bedrock:GetAsyncInvoke", str(params["invocationArn"]))]
    return [(f"bedrock:{operation}", "*")]


_MAPPERS: dict[str, Callable[[CallContext, str, Mapping[str, Any]], list[Permission]]] = {
    "bedrock": _bedrock,
    "dynamodb": _dynamodb,
    "s3": _s3,
    "secretsmanager": _secretsmanager,
    "sqs": _sqs,
    "events": _events,
    "states": _states,
    "lambda": _lambda,
}


# Calls AWS answers for any principal, whatever its policies say.
_UNAUTHORIZED_CALLS = {("sts", "GetCallerIdentity")}


def requested_permissions(
    ctx: CallContext, service: str, operation: str, params: Mapping[str, Any]
) -> list[Permission]:
    """The (action, resource) pairs AWS authorizes a call with; ``service`` is the IAM prefix."""
    if (service, operation) in _UNAUTHORIZED_CALLS:
        return []
    mapper = _MAPPERS.get(service)
    if mapper is None:
        return [(f"{service}:{operation}", "*")]
    return mapper(ctx, operation, params)


# ------------------------------------------------------------------ denials

# The error code each service answers an unauthorized call with, and its HTTP status.
_DENIED_CODES: dict[str, tuple[str, int]] = {
    "s3": ("AccessDenied", 403),
    "sqs": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}
_DEFAULT_DENIED = ("AccessDeniedException", 400)


def denied_message(role: Role, action: str, resource: str, decision: Decision) -> str:
    resource_text = f'"{resource}"' if action.startswith("s3:") else resource
    reason = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {action} action"
    )
    return (
        f"User: {role.session_arn} is not authorized to perform: {action} on resource: "
        f"{resource_text} {reason}"
    )


def _raise_denied(
    client: BaseClient,
    service: str,
    operation: str,
    role: Role,
    action: str,
    resource: str,
    decision: Decision,
) -> None:
    code, status = _DENIED_CODES.get(service, _DEFAULT_DENIED)
    message = denied_message(role, action, resource, decision)
    request_id = str(uuid.uuid4())
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": status,
            "HTTPHeaders": {"x-amzn-requestid": request_id},
            "RetryAttempts": 0,
        },
    }
    raise client.exceptions.from_code(code)(response, operation)


# -------------------------------------------------------------------- guard


@dataclass(frozen=True)
class Grant:
    """One action pattern on one resource pattern, granted to a role by one statement."""

    owner: str
    source: str
    action: str
    resource: str


class IamGuard:
    """Enforces the stack's roles on the calls made on their behalf; see the module doc."""

    def __init__(
        self,
        stack: Stack,
        *,
        record: str | Path | None = None,
    ) -> None:
        self.stack = stack
        # By function name and by state machine ARN.
        self.roles = roles_of_stack(stack)
        self._record = Path(record) if record else None
        self._used: set[Grant] = set()
        self._used_lock = threading.Lock()
        self.denials: list[Grant] = []
        # Wrap every checked call (after it is authorized), outermost first: each gets the
        # client, operation, parameters, role and a callable making the call (fault
        # injection, request counting).
        self.call_hooks: list[CallHook] = []

    def role_of_function(self, name: str) -> Role | None:
        return self.roles.get(name)

    def role_of_state_machine(self, arn: str) -> Role | None:
        return self.roles.get(arn)

    # -- lifecycle

    def start(self) -> None:
        global _active_guard
        with _guard_lock:
            if _active_guard is not None:
                raise RuntimeError("another IamGuard is already active in this process")
            _active_guard = self
            _install()

    def stop(self) -> None:
        global _active_guard
        with _guard_lock:
            if _active_guard is self:
                _active_guard = None
                _uninstall()
        if self._record is not None:
            self._write_record(self._record)

    # -- checking

    def authorize(self, client: BaseClient, role: Role, operation: str, params: Any) -> None:
        """Raise the service's access-denied error unless ``role`` may make this call."""
        model = client.meta.service_model
        service = str(model.signing_name or model.endpoint_prefix)
        ctx = CallContext(
            region=str(client.meta.region_name or self.stack.region),
            account_id=self.stack.account_id,
            partition=self.stack.template.pseudo.partition,
        )
        for action, resource in requested_permissions(ctx, service, operation, params or {}):
            decision, allowing = evaluate(role.statements, action, resource)
            if decision is not Decision.ALLOWED:
                self.denials.append(Grant(role.owner, decision.value, action, resource))
                logger.warning(
                    "denied %s: %s on %s (%s)", role.owner, action, resource, decision.value
                )
                _raise_denied(client, service, operation, role, action, resource, decision)
            self._mark_used(role, allowing, action, resource)

    def _mark_used(
        self, role: Role, statements: list[Statement], action: str, resource: str
    ) -> None:
        if self._record is None:
            return
        used: set[Grant] = set()
        for statement in statements:
            for pattern in statement.actions:
                if not Statement("Allow", actions=(pattern,)).matches_action(action):
                    continue
                for resource_pattern in statement.resources:
                    if Statement("Allow", resources=(resource_pattern,)).matches_resource(resource):
                        used.add(Grant(role.owner, statement.source, pattern, resource_pattern))
        with self._used_lock:
            self._used |= used

    # -- recording

    def grants(self) -> set[Grant]:
        """Every (action pattern, resource pattern) each role's Allow statements hold."""
        granted: set[Grant] = set()
        for role in self.roles.values():
            for statement in role.statements:
                if statement.effect != "Allow":
                    continue
                for action in statement.actions:
                    for resource in statement.resources:
                        granted.add(Grant(role.owner, statement.source, action, resource))
        return granted

    def _logical(self, text: str) -> str:
        # Physical names are stack-specific; the report speaks of logical ids.
        names = sorted(
            (
                (str(value), logical_id)
                for logical_id, value in self.stack.physical_ids.items()
                if isinstance(value, str) and len(str(value)) > 3
            ),
            key=lambda pair: -len(pair[0]),
        )
        for value, logical_id in names:
            text = text.replace(value, "${" + logical_id + "}")
        return text

    def _write_record(self, path: Path) -> None:
        template = self.stack.template.path
        lines = []
        with self._used_lock:
            used = set(self._used)
        records = (("granted", self.grants()), ("used", used), ("denied", set(self.denials)))
        for kind, grants in records:
            for grant in sorted(grants, key=lambda g: (g.owner, g.source, g.action, g.resource)):
                lines.append(
                    json.dumps(
                        {
                            "template": str(template) if template else None,
                            "kind": kind,
                            "owner": grant.owner,
                            "source": grant.source,
                            "action": grant.action,
                            "resource": self._logical(grant.resource),
                        }
                    )
                )
        if not lines:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # One append per stack: concurrent test workers add whole blocks of lines.
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------ the seam

_active_guard: IamGuard | None = None
_guard_lock = threading.Lock()
_original_make_api_call = BaseClient._make_api_call


def _guarded_make_api_call(self: BaseClient, operation_name: str, api_params: Any) -> Any:
    guard = _active_guard
    role = _PRINCIPAL.get()
    if guard is None or role is None:
        return _original_make_api_call(self, operation_name, api_params)
    guard.authorize(self, role, operation_name, api_params)
    call: Callable[[], Any] = functools.partial(
        _original_make_api_call, self, operation_name, api_params
    )
    for hook in reversed(guard.call_hooks):
        call = functools.partial(hook, self, operation_name, api_params, role, call)
    return call()


# Threads moto's Step Functions interpreter starts while evaluating a state: they inherit the
# execution's principal (a plain Thread starts with an empty context).
def _interpreter_thread_modules() -> list[Any]:
    from moto.stepfunctions.parser.asl.component.program import program
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branch_worker
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback,
    )

    return [
        program,
        execute_state,
        inline_iteration_component,
        branch_worker,
        state_task_service_callback,
    ]


class _ContextThread(threading.Thread):
    """A Thread that runs in a copy of the context of the thread that created it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._creator_context = contextvars.copy_context()

    def run(self) -> None:
        self._creator_context.run(super().run)


class _ThreadingWithContext:
    """Stands in for the ``threading`` module inside moto's interpreter modules."""

    Thread = _ContextThread

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


_saved_threading: dict[Any, tuple[str, Any]] = {}
_original_execution_logic: Any = None


def _execution_logic_as_state_machine(worker: Any) -> None:
    guard = _active_guard
    arn = worker._evaluation_details.state_machine_details.arn
    role = guard.role_of_state_machine(str(arn)) if guard is not None else None
    # A fresh context: nothing of the caller that started the execution carries over.
    context = contextvars.Context()
    context.run(_run_execution, worker, role)


def _run_execution(worker: Any, role: Role | None) -> None:
    _PRINCIPAL.set(role)
    _original_execution_logic(worker)


def _install() -> None:
    global _original_execution_logic
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    if BaseClient._make_api_call is not _guarded_make_api_call:
        BaseClient._make_api_call = _guarded_make_api_call
    if _original_execution_logic is None:
        _original_execution_logic = ExecutionWorker._execution_logic
        ExecutionWorker._execution_logic = _execution_logic_as_state_machine  # type: ignore[method-assign]
    for module in _interpreter_thread_modules():
        if module in _saved_threading:
            continue
        if getattr(module, "Thread", None) is threading.Thread:
            _saved_threading[module] = ("Thread", module.Thread)
            module.Thread = _ContextThread
        elif getattr(module, "threading", None) is threading:
            _saved_threading[module] = ("threading", module.threading)
            module.threading = _ThreadingWithContext()


def _uninstall() -> None:
    global _original_execution_logic
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    BaseClient._make_api_call = _original_make_api_call
    if _original_execution_logic is not None:
        ExecutionWorker._execution_logic = _original_execution_logic  # type: ignore[method-assign]
        _original_execution_logic = None
    for module, (attribute, original) in _saved_threading.items():
        setattr(module, attribute, original)
    _saved_threading.clear()


def is_enforcing() -> bool:
    """True while a guard checks calls in this process."""
    return _active_guard is not None


__all__ = [
    "CallContext",
    "CallHook",
    "Grant",
    "IamGuard",
    "acting_as",
    "current_principal",
    "denied_message",
    "requested_permissions",
    "roles_of_stack",
]
