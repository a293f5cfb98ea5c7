"""Create the resources of a SAM template in moto and describe what was created."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from .template import Resolver, ResourceRecord, Template, TemplateError

logger = logging.getLogger(__name__)

IMPLICIT_API_ID = "ServerlessRestApi"
IMPLICIT_API_STAGE = "Prod"

_LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
_STATES_TRUST = _LAMBDA_TRUST.replace("lambda.amazonaws.com", "states.amazonaws.com")


# ---------------------------------------------------------------------- model


@dataclass(frozen=True)
class FunctionEvent:
    """One entry of a Serverless Function's `Events`, properties resolved."""

    name: str
    type: str
    properties: dict[str, Any]
    raw_properties: dict[str, Any]


@dataclass
class FunctionSpec:
    """A function as the template declares it, with what moto registered."""

    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    registered_runtime: str
    code_uri: Path | None
    environment: dict[str, str]
    timeout: int
    memory_size: int
    architectures: list[str]
    role_arn: str
    events: list[FunctionEvent] = field(default_factory=list)
    # The resolved `Policies` property (SAM policy templates, inline documents, names).
    policies: Any = None


@dataclass(frozen=True)
class Authorizer:
    """A REQUEST Lambda authorizer of a Serverless Api, with no identity sources (the only
    kind template.yaml declares; others are refused at provisioning)."""

    name: str
    function_arn: str


@dataclass(frozen=True)
class ApiRoute:
    """A `Type: Api` event: one resource path and method served by one function."""

    path: str
    method: str
    function_logical_id: str
    event_name: str
    authorizer: str | None


@dataclass
class ApiSpec:
    """A REST API with the routes that point at it."""

    logical_id: str
    rest_api_id: str
    stage_name: str
    binary_media_types: list[str]
    authorizers: dict[str, Authorizer]
    default_authorizer: str | None
    gateway_responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    routes: list[ApiRoute] = field(default_factory=list)
    method_settings: list[dict[str, Any]] = field(default_factory=list)
    """The stage's `MethodSettings` (throttling is what the local front applies)."""


@dataclass(frozen=True)
class RuleTarget:
    """An EventBridge rule target (the whole event is delivered: template.yaml sets no
    Input, InputPath or InputTransformer)."""

    id: str
    arn: str


@dataclass
class RuleSpec:
    """An EventBridge rule, declared directly or through a function event."""

    logical_id: str
    name: str
    arn: str
    event_bus_name: str
    event_pattern: dict[str, Any] | None
    schedule_expression: str | None
    state: str
    targets: list[RuleTarget]


@dataclass(frozen=True)
class SqsEventSource:
    """A `Type: SQS` function event: a queue polled on behalf of a function."""

    function_logical_id: str
    event_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    maximum_batching_window_seconds: int
    report_batch_item_failures: bool
    enabled: bool


@dataclass(frozen=True)
class StateMachineSpec:
    """A state machine with its substituted definition."""

    logical_id: str
    name: str
    arn: str
    definition: str
    type: str
    role_arn: str = ""
    # The resolved `Policies` property of a Serverless state machine.
    policies: Any = None


@dataclass
class Stack:
    """Everything provisioned from one template."""

    name: str
    region: str
    account_id: str
    template: Template
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    apis: dict[str, ApiSpec] = field(default_factory=dict)
    rules: dict[str, RuleSpec] = field(default_factory=dict)
    sqs_event_sources: list[SqsEventSource] = field(default_factory=list)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def physical_ids(self) -> dict[str, Any]:
        """What `Ref` returns for every created resource, by logical id."""
        return {
            logical_id: record.ref
            for logical_id, record in self.resources.items()
            if not record.placeholder
        }

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        """Find a function by logical id, physical name or ARN."""
        if name_or_logical_id in self.functions:
            return self.functions[name_or_logical_id]
        for spec in self.functions.values():
            if name_or_logical_id in (spec.name, spec.arn):
                return spec
        raise KeyError(name_or_logical_id)


# ---------------------------------------------------------------- provisioner


def physical_name(stack_name: str, logical_id: str, *, max_length: int = 64) -> str:
    """A CloudFormation-style generated name, stable for a given stack and logical id."""
    suffix = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:12].upper()
    head = f"{stack_name}-{logical_id}"[: max_length - len(suffix) - 1]
    return f"{head}-{suffix}"


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _without_tags(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    tags = properties.get("Tags") or []
    if isinstance(tags, dict):
        return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags]


class Provisioner:
    """Walks a template in dependency order and creates each resource through boto3."""

    def __init__(
        self,
        template: Template,
        *,
        session: boto3.session.Session,
        secret_values: Mapping[str, str] | None = None,
        function_environment: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        pseudo = template.pseudo
        self.stack = Stack(
            name=pseudo.stack_name,
            region=pseudo.region,
            account_id=pseudo.account_id,
            template=template,
        )
        self._session = session
        self._clients: dict[str, Any] = {}
        self._secret_values = dict(secret_values or {})
        self._function_environment = {k: str(v) for k, v in (function_environment or {}).items()}
        self._handlers: dict[str, Callable[[str, dict[str, Any], Resolver], ResourceRecord]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::SQS::Queue": self._queue,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::Events::Rule": self._rule,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::Serverless::Api": self._api,
            "AWS::IAM::Role": self._iam_role,
        }

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)
        return self._clients[service]

    def provision(self) -> Stack:
        """Create every supported resource, then gather routes and outputs."""
        unknown_secrets = set(self._secret_values) - set(self.template.resources)
        if unknown_secrets:
            raise TemplateError(f"secret values for unknown resources: {sorted(unknown_secrets)}")
        if self._needs_implicit_api():
            self._implicit_api()
        for logical_id in self.template.creation_order():
            resource = self.template.resources[logical_id]
            resource_type = str(resource.get("Type"))
            resolver = self.template.resolver(self.stack.resources)
            handler = self._handlers.get(resource_type)
            if handler is None:
                logger.debug("not provisioning %s (%s)", logical_id, resource_type)
                self.stack.skipped[logical_id] = resource_type
                self.stack.resources[logical_id] = ResourceRecord(
                    logical_id, resource_type, logical_id, placeholder=True
                )
                continue
            logger.debug("provisioning %s (%s)", logical_id, resource_type)
            self.stack.resources[logical_id] = handler(logical_id, resource, resolver)
        if IMPLICIT_API_ID in self.stack.apis:
            # Declared APIs come first: they are what `api_url` and friends mean.
            self.stack.apis[IMPLICIT_API_ID] = self.stack.apis.pop(IMPLICIT_API_ID)
        self._collect_routes()
        self._resolve_outputs()
        return self.stack

    # -- helpers

    def _properties(self, resource: Mapping[str, Any], resolver: Resolver) -> dict[str, Any]:
        resolved = resolver.resolve(resource.get("Properties") or {})
        return resolved if isinstance(resolved, dict) else {}

    def _arn(self, service: str, resource: str, *, region: bool = True) -> str:
        pseudo = self.template.pseudo
        region_part = pseudo.region if region else ""
        return f"arn:{pseudo.partition}:{service}:{region_part}:{pseudo.account_id}:{resource}"

    def _role(self, name: str, trust: str) -> str:
        iam = self.client("iam")
        try:
            role = iam.create_role(RoleName=name[:64], AssumeRolePolicyDocument=trust)
        except iam.exceptions.EntityAlreadyExistsException:
            role = iam.get_role(RoleName=name[:64])
        return str(role["Role"]["Arn"])

    # -- resource types

    def _iam_role(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        name = str(props.get("RoleName") or physical_name(self.stack.name, logical_id))
        trust = props.get("AssumeRolePolicyDocument") or json.loads(_LAMBDA_TRUST)
        arn = self._role(name, json.dumps(trust))
        return ResourceRecord(logical_id, "AWS::IAM::Role", name, {"Arn": arn, "RoleId": name})

    def _table(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        ddb = self.client("dynamodb")
        name = str(
            props.get("TableName") or physical_name(self.stack.name, logical_id, max_length=255)
        )
        billing = str(props.get("BillingMode", "PROVISIONED"))
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            request["ProvisionedThroughput"] = self._throughput(props.get("ProvisionedThroughput"))
        if props.get("GlobalSecondaryIndexes"):
            indexes = [dict(index) for index in props["GlobalSecondaryIndexes"]]
            if billing == "PROVISIONED":
                for index in indexes:
                    index["ProvisionedThroughput"] = self._throughput(
                        index.get("ProvisionedThroughput")
                    )
            request["GlobalSecondaryIndexes"] = indexes
        stream = props.get("StreamSpecification")
        if stream:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        if props.get("SSESpecification"):
            request["SSESpecification"] = {
                "Enabled": _as_bool(props["SSESpecification"].get("SSEEnabled", False))
            }
        tags = _without_tags(props)
        if tags:
            request["Tags"] = tags
        description = ddb.create_table(**request)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and _as_bool(ttl.get("Enabled", False)):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr and _as_bool(pitr.get("PointInTimeRecoveryEnabled", False)):
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        attributes = {"Arn": description["TableArn"]}
        if "LatestStreamArn" in description:
            attributes["StreamArn"] = description["LatestStreamArn"]
        return ResourceRecord(logical_id, "AWS::DynamoDB::Table", name, attributes)

    @staticmethod
    def _throughput(value: Any) -> dict[str, int]:
        value = value or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        return {
            "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
            "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
        }

    def _bucket(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        s3 = self.client("s3")
        name = str(
            props.get("BucketName")
            or physical_name(self.stack.name, logical_id, max_length=63).lower()
        )
        if self.stack.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.stack.region}
            )
        notification = props.get("NotificationConfiguration") or {}
        event_bridge = notification.get("EventBridgeConfiguration") or {}
        if _as_bool(event_bridge.get("EventBridgeEnabled", False)):
            s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration={"EventBridgeConfiguration": {}},
            )
        for other in set(notification) - {"EventBridgeConfiguration"}:
            logger.debug("%s: bucket notification %s is not provisioned locally", logical_id, other)
        block = props.get("PublicAccessBlockConfiguration")
        if block:
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={k: _as_bool(v) for k, v in block.items()},
            )
        encryption = props.get("BucketEncryption")
        if encryption:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        _encryption_rule(rule)
                        for rule in encryption["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        lifecycle = props.get("LifecycleConfiguration")
        if lifecycle:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in lifecycle["Rules"]]},
            )
        suffix = self.template.pseudo.url_suffix
        attributes = {
            "Arn": f"arn:{self.template.pseudo.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.{suffix}",
            "RegionalDomainName": f"{name}.s3.{self.stack.region}.{suffix}",
            "WebsiteURL": f"http://{name}.s3-website-{self.stack.region}.{suffix}",
        }
        return ResourceRecord(logical_id, "AWS::S3::Bucket", name, attributes)

    def _secret(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        sm = self.client("secretsmanager")
        name = str(props.get("Name") or physical_name(self.stack.name, logical_id, max_length=256))
        if logical_id in self._secret_values:
            value = self._secret_values[logical_id]
        elif "SecretString" in props:
            value = str(props["SecretString"])
        else:
            value = self._generated_secret(props.get("GenerateSecretString") or {})
        request: dict[str, Any] = {"Name": name, "SecretString": value}
        if props.get("Description"):
            request["Description"] = str(props["Description"])
        tags = _without_tags(props)
        if tags:
            request["Tags"] = tags
        arn = str(sm.create_secret(**request)["ARN"])
        return ResourceRecord(logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn})

    def _generated_secret(self, spec: Mapping[str, Any]) -> str:
        options: dict[str, Any] = {"PasswordLength": int(spec.get("PasswordLength", 32))}
        for key in ("ExcludeCharacters",):
            if key in spec:
                options[key] = str(spec[key])
        for key in (
            "ExcludeLowercase",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "ExcludeUppercase",
            "IncludeSpace",
            "RequireEachIncludedType",
        ):
            if key in spec:
                options[key] = _as_bool(spec[key])
        password = str(
            self.client("secretsmanager").get_random_password(**options)["RandomPassword"]
        )
        template = spec.get("SecretStringTemplate")
        if template is None:
            return password
        document = json.loads(str(template))
        document[str(spec["GenerateStringKey"])] = password
        return json.dumps(document)

    def _queue(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        sqs = self.client("sqs")
        name = props.get("QueueName") or physical_name(self.stack.name, logical_id, max_length=80)
        attributes: dict[str, str] = {}
        for key, value in props.items():
            if key in ("QueueName", "Tags"):
                continue
            if key in ("RedrivePolicy", "RedriveAllowPolicy"):
                attributes[key] = value if isinstance(value, str) else json.dumps(value)
            else:
                attributes[key] = _env_string(value)
        request: dict[str, Any] = {"QueueName": str(name), "Attributes": attributes}
        tags = _without_tags(props)
        if tags:
            request["tags"] = {tag["Key"]: tag["Value"] for tag in tags}
        url = str(sqs.create_queue(**request)["QueueUrl"])
        arn = self._arn("sqs", str(name))
        return ResourceRecord(
            logical_id,
            "AWS::SQS::Queue",
            url,
            {"Arn": arn, "QueueName": str(name), "QueueUrl": url},
        )

    def _event_bus(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        name = str(props["Name"])
        events = self.client("events")
        arn = str(events.create_event_bus(Name=name)["EventBusArn"])
        policy = props.get("Policy")
        if policy is not None:
            # Kept on the bus as EventBridge keeps it; who may put events is decided by it.
            text = policy if isinstance(policy, str) else json.dumps(policy)
            events.put_permission(EventBusName=name, Policy=text)
        return ResourceRecord(logical_id, "AWS::Events::EventBus", name, {"Arn": arn, "Name": name})

    def _kms_key(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        request: dict[str, Any] = {"KeyUsage": str(props.get("KeyUsage") or "ENCRYPT_DECRYPT")}
        if props.get("Description"):
            request["Description"] = str(props["Description"])
        policy = props.get("KeyPolicy")
        if policy is not None:
            # Kept on the key as KMS keeps it (moto does not evaluate it).
            request["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        metadata = self.client("kms").create_key(**request)["KeyMetadata"]
        key_id, arn = str(metadata["KeyId"]), str(metadata["Arn"])
        return ResourceRecord(logical_id, "AWS::KMS::Key", key_id, {"Arn": arn, "KeyId": key_id})

    def _kms_alias(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        name = str(props["AliasName"])
        self.client("kms").create_alias(AliasName=name, TargetKeyId=str(props["TargetKeyId"]))
        return ResourceRecord(logical_id, "AWS::KMS::Alias", name, {})

    def _rule(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        name = str(props.get("Name") or physical_name(self.stack.name, logical_id))
        targets = []
        for target in props.get("Targets") or []:
            _whole_event_only(logical_id, target)
            targets.append(RuleTarget(id=str(target["Id"]), arn=str(target["Arn"])))
        spec = self._put_rule(
            logical_id,
            name=name,
            bus=str(props.get("EventBusName") or "default"),
            pattern=props.get("EventPattern"),
            schedule=props.get("ScheduleExpression"),
            state=str(props.get("State") or "ENABLED"),
            description=props.get("Description"),
            targets=targets,
        )
        return ResourceRecord(logical_id, "AWS::Events::Rule", name, {"Arn": spec.arn})

    def _put_rule(
        self,
        logical_id: str,
        *,
        name: str,
        bus: str,
        pattern: Any,
        schedule: Any,
        state: str,
        description: Any,
        targets: list[RuleTarget],
    ) -> RuleSpec:
        events = self.client("events")
        if bus.startswith("arn:"):
            bus = bus.rsplit("/", 1)[-1]
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        request: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": state}
        if pattern is not None:
            request["EventPattern"] = json.dumps(pattern)
        if schedule is not None:
            request["ScheduleExpression"] = str(schedule)
        if description:
            request["Description"] = str(description)
        arn = str(events.put_rule(**request)["RuleArn"])
        if targets:
            events.put_targets(
                Rule=name,
                EventBusName=bus,
                Targets=[_target_request(target) for target in targets],
            )
        spec = RuleSpec(
            logical_id=logical_id,
            name=name,
            arn=arn,
            event_bus_name=bus,
            event_pattern=pattern,
            schedule_expression=None if schedule is None else str(schedule),
            state=state,
            targets=targets,
        )
        self.stack.rules[logical_id] = spec
        return spec

    def _function(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        name = str(props.get("FunctionName") or physical_name(self.stack.name, logical_id))
        role_arn = props.get("Role")
        role_attributes: dict[str, Any] = {}
        if not role_arn:
            role_name = physical_name(self.stack.name, f"{logical_id}Role")
            role_arn = self._role(role_name, _LAMBDA_TRUST)
            role_attributes = {"Arn": role_arn}
            self.stack.resources[f"{logical_id}Role"] = ResourceRecord(
                f"{logical_id}Role", "AWS::IAM::Role", role_name, role_attributes
            )
        handler = str(props.get("Handler") or "")
        runtime = str(props.get("Runtime") or "")
        variables = (props.get("Environment") or {}).get("Variables") or {}
        environment = {str(k): _env_string(v) for k, v in variables.items()}
        environment.update(self._function_environment)
        timeout = int(props.get("Timeout", 3))
        memory = int(props.get("MemorySize", 128))
        architectures = [str(a) for a in props.get("Architectures") or ["x86_64"]]
        request: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Role": str(role_arn),
            "Handler": handler,
            "Code": {"ZipFile": _dummy_zip()},
            "Timeout": timeout,
            "MemorySize": memory,
            "Architectures": architectures,
            "Environment": {"Variables": environment},
        }
        if props.get("Description"):
            request["Description"] = str(props["Description"])
        arn = str(self.client("lambda").create_function(**request)["FunctionArn"])
        code_uri = props.get("CodeUri")
        spec = FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=arn,
            handler=handler,
            runtime=runtime,
            # moto 5.2 stores any runtime string as given, python3.13 included.
            registered_runtime=runtime,
            code_uri=(self.template.directory / code_uri) if isinstance(code_uri, str) else None,
            environment=environment,
            timeout=timeout,
            memory_size=memory,
            architectures=architectures,
            role_arn=str(role_arn),
            policies=props.get("Policies"),
        )
        raw_events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in (props.get("Events") or {}).items():
            raw = raw_events.get(event_name, {}).get("Properties") or {}
            spec.events.append(
                FunctionEvent(
                    name=str(event_name),
                    type=str(event.get("Type")),
                    properties=dict(event.get("Properties") or {}),
                    raw_properties=dict(raw),
                )
            )
        self.stack.functions[logical_id] = spec
        for event in spec.events:
            self._function_event(spec, event)
        return ResourceRecord(logical_id, "AWS::Serverless::Function", name, {"Arn": arn})

    def _function_event(self, spec: FunctionSpec, event: FunctionEvent) -> None:
        props = event.properties
        if event.type in ("EventBridgeRule", "Schedule"):
            _whole_event_only(f"{spec.logical_id}.{event.name}", props)
            target = props.get("Target") or {}
            rule_logical_id = f"{spec.logical_id}{event.name}"
            enabled = props.get("Enabled")
            state = props.get("State") or (
                "DISABLED" if enabled is not None and not _as_bool(enabled) else "ENABLED"
            )
            self._put_rule(
                rule_logical_id,
                name=str(props.get("RuleName") or physical_name(self.stack.name, rule_logical_id)),
                bus=str(props.get("EventBusName") or "default"),
                pattern=props.get("Pattern"),
                schedule=props.get("Schedule"),
                state=str(state),
                description=props.get("Description"),
                targets=[
                    RuleTarget(
                        id=str(target.get("Id") or f"{spec.logical_id}{event.name}LambdaTarget"),
                        arn=spec.arn,
                    )
                ],
            )
        elif event.type == "SQS":
            queue_arn = str(props["Queue"])
            queue_name = queue_arn.rsplit(":", 1)[-1]
            queue_url = str(self.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"])
            self.stack.sqs_event_sources.append(
                SqsEventSource(
                    function_logical_id=spec.logical_id,
                    event_name=event.name,
                    queue_arn=queue_arn,
                    queue_url=queue_url,
                    batch_size=int(props.get("BatchSize", 10)),
                    maximum_batching_window_seconds=int(
                        props.get("MaximumBatchingWindowInSeconds", 0)
                    ),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    enabled=_as_bool(props.get("Enabled", True)),
                )
            )
        elif event.type != "Api":
            logger.debug(
                "%s: event %s of type %s is recorded but not wired",
                spec.logical_id,
                event.name,
                event.type,
            )

    def _state_machine(
        self, logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> ResourceRecord:
        props = self._properties(resource, resolver)
        definition = self._definition_text(logical_id, props)
        substitutions = props.get("DefinitionSubstitutions") or {}
        for key, value in substitutions.items():
            definition = definition.replace("${" + str(key) + "}", _env_string(value))
        name = str(props.get("Name") or physical_name(self.stack.name, logical_id, max_length=80))
        role_arn = props.get("Role")
        if not role_arn:
            role_name = physical_name(self.stack.name, f"{logical_id}Role")
            role_arn = self._role(role_name, _STATES_TRUST)
            self.stack.resources[f"{logical_id}Role"] = ResourceRecord(
                f"{logical_id}Role", "AWS::IAM::Role", role_name, {"Arn": role_arn}
            )
        machine_type = str(props.get("Type") or "STANDARD")
        arn = str(
            self.client("stepfunctions").create_state_machine(
                name=name, definition=definition, roleArn=str(role_arn), type=machine_type
            )["stateMachineArn"]
        )
        self.stack.state_machines[logical_id] = StateMachineSpec(
            logical_id=logical_id,
            name=name,
            arn=arn,
            definition=definition,
            type=machine_type,
            role_arn=str(role_arn),
            policies=props.get("Policies"),
        )
        return ResourceRecord(logical_id, str(resource["Type"]), arn, {"Arn": arn, "Name": name})

    def _definition_text(self, logical_id: str, props: Mapping[str, Any]) -> str:
        # template.yaml uses a JSON DefinitionUri; an inline Definition keeps test templates short.
        if "Definition" in props:
            return json.dumps(props["Definition"])
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str):
            raise TemplateError(f"{logical_id}: DefinitionUri must be a local path here")
        return (self.template.directory / uri).read_text(encoding="utf-8")

    def _api(self, logical_id: str, resource: dict[str, Any], resolver: Resolver) -> ResourceRecord:
        props = self._properties(resource, resolver)
        name = str(props.get("Name") or f"{self.stack.name}-{logical_id}")
        spec = self._register_api(logical_id, name, props)
        return ResourceRecord(
            logical_id,
            "AWS::Serverless::Api",
            spec.rest_api_id,
            {"RootResourceId": spec.rest_api_id},
        )

    def _register_api(self, logical_id: str, name: str, props: Mapping[str, Any]) -> ApiSpec:
        apigateway = self.client("apigateway")
        rest_api_id = str(apigateway.create_rest_api(name=name)["id"])
        auth = props.get("Auth") or {}
        authorizers = {
            str(authorizer_name): _authorizer(logical_id, str(authorizer_name), config)
            for authorizer_name, config in (auth.get("Authorizers") or {}).items()
        }
        spec = ApiSpec(
            logical_id=logical_id,
            rest_api_id=rest_api_id,
            stage_name=str(props.get("StageName") or IMPLICIT_API_STAGE),
            binary_media_types=[
                str(media_type).replace("~1", "/")
                for media_type in props.get("BinaryMediaTypes") or []
            ],
            authorizers=authorizers,
            default_authorizer=auth.get("DefaultAuthorizer"),
            gateway_responses=dict(props.get("GatewayResponses") or {}),
            method_settings=[dict(entry) for entry in props.get("MethodSettings") or []],
        )
        self.stack.apis[logical_id] = spec
        return spec

    # template.yaml declares its Api; the implicit one is kept for the shorter test templates.
    def _needs_implicit_api(self) -> bool:
        for resource in self.template.resources.values():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
                if event.get("Type") == "Api" and "RestApiId" not in (
                    event.get("Properties") or {}
                ):
                    return True
        return False

    def _implicit_api(self) -> None:
        # SAM builds this API from Globals.Api; apply_globals only reaches declared resources.
        globals_api = (self.template.document.get("Globals") or {}).get("Api") or {}
        props = self.template.resolver(self.stack.resources).resolve(globals_api)
        spec = self._register_api(IMPLICIT_API_ID, f"{self.stack.name}-{IMPLICIT_API_ID}", props)
        spec.stage_name = IMPLICIT_API_STAGE
        self.stack.resources[IMPLICIT_API_ID] = ResourceRecord(
            IMPLICIT_API_ID,
            "AWS::Serverless::Api",
            spec.rest_api_id,
            {"RootResourceId": spec.rest_api_id},
        )

    def _collect_routes(self) -> None:
        for function in self.stack.functions.values():
            for event in function.events:
                if event.type != "Api":
                    continue
                api_logical_id = _api_logical_id(event.raw_properties.get("RestApiId"))
                if api_logical_id is None:
                    api_logical_id = self._api_by_id(event.properties.get("RestApiId"))
                api = self.stack.apis.get(api_logical_id)
                if api is None:
                    logger.warning(
                        "%s: route %s has no API to attach to", function.logical_id, event.name
                    )
                    continue
                auth = event.properties.get("Auth") or {}
                authorizer = auth.get("Authorizer", api.default_authorizer)
                if authorizer == "NONE":
                    authorizer = None
                path = str(event.properties["Path"])
                method = str(event.properties["Method"]).upper()
                if "+}" in path:
                    raise TemplateError(
                        f"{function.logical_id}.{event.name}: {{greedy+}} routes are not "
                        "served locally (template.yaml uses none)"
                    )
                api.routes.append(
                    ApiRoute(
                        path=path,
                        method=method,
                        function_logical_id=function.logical_id,
                        event_name=event.name,
                        authorizer=authorizer,
                    )
                )

    def _api_by_id(self, rest_api_id: Any) -> str:
        if rest_api_id is None:
            return IMPLICIT_API_ID
        for logical_id, spec in self.stack.apis.items():
            if spec.rest_api_id == rest_api_id:
                return logical_id
        return str(rest_api_id)

    def _resolve_outputs(self) -> None:
        resolver = self.template.resolver(self.stack.resources)
        for name, output in self.template.outputs.items():
            condition = output.get("Condition")
            if condition is not None and not self.template.conditions.get(condition, False):
                continue
            try:
                self.stack.outputs[name] = resolver.resolve(output.get("Value"))
            except TemplateError as exc:
                logger.warning("output %s cannot be resolved locally: %s", name, exc)


def _api_logical_id(raw: Any) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("Ref"), str):
        return str(raw["Ref"])
    return None


def _authorizer(api: str, name: str, config: Mapping[str, Any]) -> Authorizer:
    identity = set(config.get("Identity") or {}) - {"ReauthorizeEvery"}
    if str(config.get("FunctionPayloadType", "TOKEN")).upper() != "REQUEST" or identity:
        raise TemplateError(
            f"{api}.{name}: only REQUEST authorizers without identity sources run locally"
        )
    return Authorizer(name=name, function_arn=str(config["FunctionArn"]))


def _whole_event_only(owner: str, properties: Mapping[str, Any]) -> None:
    shaping = sorted({"Input", "InputPath", "InputTransformer"} & set(properties))
    if shaping:
        raise TemplateError(f"{owner}: {shaping} not supported locally (template.yaml uses none)")


def _target_request(target: RuleTarget) -> dict[str, Any]:
    return {"Id": target.id, "Arn": target.arn}


def _encryption_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    default = rule.get("ServerSideEncryptionByDefault")
    if default:
        converted["ApplyServerSideEncryptionByDefault"] = dict(default)
    return converted


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    converted["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(abort["DaysAfterInitiation"])
        }
    return converted


def provision(
    template: Template,
    *,
    session: boto3.session.Session,
    secret_values: Mapping[str, str] | None = None,
    function_environment: Mapping[str, str] | None = None,
) -> Stack:
    """Create the template's resources through `session` (which must point at moto)."""
    return Provisioner(
        template,
        session=session,
        secret_values=secret_values,
        function_environment=function_environment,
    ).provision()
