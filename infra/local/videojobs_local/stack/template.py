"""Load a SAM template and resolve its CloudFormation intrinsics locally.

Only the intrinsics template.yaml uses are evaluated: Ref, Fn::GetAtt, Fn::Sub, Fn::If,
Fn::Equals and Fn::Not (with AWS::NoValue); any other is refused with a TemplateError.
"""

from __future__ import annotations

import copy
import logging
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

logger = logging.getLogger(__name__)

# SAM's Globals sections read here and the resource types each one feeds: template.yaml
# uses Function; Api is kept because the test templates' implicit API is built from it.
GLOBALS_TARGETS: dict[str, str] = {
    "Function": "AWS::Serverless::Function",
    "Api": "AWS::Serverless::Api",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(Exception):
    """The template cannot be loaded or one of its expressions cannot be resolved."""


class _NoValue:
    """Marker for AWS::NoValue: the enclosing property disappears."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --------------------------------------------------------------------------- YAML


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that understands CloudFormation's short-form tags."""


# CloudFormation reads `2012-10-17` in a policy as a string; PyYAML would make it a date.
_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct(loader: _CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node!r}")


def _long_form(name: str) -> Callable[[_CfnLoader, yaml.Node], dict[str, Any]]:
    def constructor(loader: _CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _construct(loader, node)}

    return constructor


def _get_att(loader: _CfnLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct(loader, node)
    if isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {"Fn::GetAtt": value}


def _unsupported_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    raise TemplateError(f"unsupported intrinsic function !{suffix}")


_CfnLoader.add_constructor("!Ref", _long_form("Ref"))
_CfnLoader.add_constructor("!GetAtt", _get_att)
for _fn in ("Sub", "If", "Equals", "Not"):
    _CfnLoader.add_constructor(f"!{_fn}", _long_form(f"Fn::{_fn}"))
_CfnLoader.add_multi_constructor("!", _unsupported_tag)


def load_yaml(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) into plain long-form dicts."""
    document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise TemplateError("a template must be a mapping")
    return document


# ----------------------------------------------------------------- parameters


def parse_parameter_overrides(
    overrides: str | Mapping[str, Any] | Iterable[str] | None,
) -> dict[str, str]:
    """Parse `sam deploy --parameter-overrides` syntax into a dict.

    Accepts ``"Key=Value Key2='a b'"``, the long ``ParameterKey=K,ParameterValue=V`` form,
    a list of ``Key=Value`` strings, or a mapping (returned with string values).
    """
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return {str(key): _parameter_string(value) for key, value in overrides.items()}
    tokens = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    parsed: dict[str, str] = {}
    for token in tokens:
        if token.startswith("ParameterKey="):
            key_part, sep, value_part = token.partition(",ParameterValue=")
            if not sep:
                raise TemplateError(f"malformed parameter override {token!r}")
            parsed[key_part.removeprefix("ParameterKey=")] = value_part
            continue
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise TemplateError(f"malformed parameter override {token!r}: expected Key=Value")
        parsed[key] = value
    return parsed


def _parameter_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_parameter_string(item) for item in value)
    return str(value)


def _parameter_value(name: str, spec: Mapping[str, Any], raw: str) -> str:
    """The value of a String or Number parameter (the types template.yaml declares)."""
    allowed = spec.get("AllowedValues")
    param_type = str(spec.get("Type", "String"))
    if param_type not in ("String", "Number"):
        raise TemplateError(f"parameter {name}: type {param_type} is not supported locally")
    if allowed is not None and raw not in [_parameter_string(a) for a in allowed]:
        raise TemplateError(f"parameter {name}: {raw!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), raw):
        raise TemplateError(f"parameter {name}: {raw!r} does not match {pattern!r}")
    if param_type == "Number":
        try:
            number = float(raw)
        except ValueError:
            raise TemplateError(f"parameter {name}: {raw!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}: {raw} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}: {raw} is above {spec['MaxValue']}")
    return raw


# -------------------------------------------------------------------- globals


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """Merge a Globals entry into a resource property the way SAM does.

    Maps merge key by key (the resource wins), lists are concatenated (globals first),
    anything else is overridden by the resource.
    """
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = copy.deepcopy(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return copy.deepcopy(global_value) + local_value
    return local_value


def apply_globals(document: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the template with its Globals folded into each resource."""
    result = copy.deepcopy(document)
    # Kept in the document: SAM also feeds Globals.Api into the implicit API.
    globals_section = result.get("Globals") or {}
    for section, properties in globals_section.items():
        resource_type = GLOBALS_TARGETS.get(section)
        if resource_type is None:
            raise TemplateError(f"Globals.{section} is not supported locally")
        for resource in (result.get("Resources") or {}).values():
            if resource.get("Type") != resource_type:
                continue
            resource["Properties"] = merge_globals(properties, resource.get("Properties") or {})
    return result


# ------------------------------------------------------------------ resolution


@dataclass(frozen=True)
class PseudoParameters:
    """The values CloudFormation gives to the AWS:: pseudo parameters."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "local"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    def as_dict(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NoValue": NO_VALUE,
        }


@dataclass
class ResourceRecord:
    """What `Ref` and `Fn::GetAtt` return for a resource once it exists."""

    logical_id: str
    resource_type: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    placeholder: bool = False

    def attribute(self, name: str) -> Any:
        if name in self.attributes:
            return self.attributes[name]
        if self.placeholder:
            logger.debug("placeholder value for %s.%s", self.logical_id, name)
            return f"{self.logical_id}.{name}"
        raise TemplateError(f"{self.logical_id} ({self.resource_type}) has no attribute {name}")


class Resolver:
    """Evaluates intrinsic functions against parameters, conditions and resources."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo: PseudoParameters,
        conditions: Mapping[str, Any] | None = None,
        resources: Mapping[str, ResourceRecord] | None = None,
    ) -> None:
        self._parameters = parameters
        self._pseudo = pseudo.as_dict()
        self._condition_defs = conditions or {}
        self._condition_values: dict[str, bool] = {}
        self._resources: Mapping[str, ResourceRecord] = resources or {}

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._condition_defs:
                raise TemplateError(f"unknown condition {name}")
            # A placeholder breaks cycles, which CloudFormation rejects anyway.
            self._condition_values[name] = False
            self._condition_values[name] = bool(self.resolve(self._condition_defs[name]))
        return self._condition_values[name]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            handler = self._INTRINSICS.get(key)
            if handler is not None:
                return handler(self, argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"unsupported intrinsic function {key}")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    # Each intrinsic takes its (unresolved) argument.

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"Ref expects a name, got {name!r}")
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        if name in self._resources:
            return self._resources[name].ref
        raise TemplateError(f"Ref to unknown or not yet created {name}")

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        else:
            logical_id, attribute = self.resolve(argument[0]), self.resolve(argument[1])
        record = self._resources.get(logical_id)
        if record is None:
            raise TemplateError(f"GetAtt on unknown or not yet created {logical_id}")
        return record.attribute(str(attribute))

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub expects a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                value = variables[expression]
            elif "." in expression and expression.split(".", 1)[0] in self._resources:
                value = self._get_att(expression)
            else:
                value = self._ref(expression)
            if isinstance(value, list):
                raise TemplateError(f"Fn::Sub cannot insert list {expression}")
            return _parameter_string(value)

        return _SUB_VARIABLE.sub(replace, text)

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return _parameter_string(left) == _parameter_string(right)

    def _not(self, argument: Any) -> bool:
        return not self.resolve(argument[0])

    _INTRINSICS: ClassVar[dict[str, Callable[[Resolver, Any], Any]]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::Not": _not,
    }


def references(node: Any) -> set[str]:
    """Names a node refers to through Ref, Fn::GetAtt and Fn::Sub (parameters included)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
                if isinstance(target, str):
                    found.add(target)
                else:
                    found |= references(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                local = set(value[1]) if isinstance(value, list) and len(value) > 1 else set()
                if isinstance(text, str):
                    for expression in _SUB_VARIABLE.findall(text):
                        if not expression.startswith("!"):
                            name = expression.split(".", 1)[0]
                            if name not in local:
                                found.add(name)
                if isinstance(value, list) and len(value) > 1:
                    found |= references(value[1])
            else:
                found |= references(value)
    return found


# -------------------------------------------------------------------- template


@dataclass
class Template:
    """A SAM template with Globals applied, parameters bound and conditions evaluated."""

    document: dict[str, Any]
    directory: Path
    pseudo: PseudoParameters
    parameters: dict[str, Any]
    conditions: dict[str, bool]
    path: Path | None = None

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Resources whose Condition (if any) holds, in template order."""
        active: dict[str, dict[str, Any]] = {}
        for logical_id, resource in (self.document.get("Resources") or {}).items():
            condition = resource.get("Condition")
            if condition is not None and not self.conditions.get(condition, False):
                logger.debug("skipping %s: condition %s is false", logical_id, condition)
                continue
            active[logical_id] = resource
        return active

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.document.get("Outputs") or {})

    def resolver(self, resources: Mapping[str, ResourceRecord] | None = None) -> Resolver:
        return Resolver(
            parameters=self.parameters,
            pseudo=self.pseudo,
            conditions=self.document.get("Conditions") or {},
            resources=resources,
        )

    def _declaring(self, logical_id: str) -> str:
        """The resource that creates ``logical_id``: itself, or for a role SAM generates
        (``<Function>Role``), the function that has no role of its own."""
        if logical_id in self.resources or not logical_id.endswith("Role"):
            return logical_id
        function = self.resources.get(logical_id.removesuffix("Role")) or {}
        if function.get("Type") == "AWS::Serverless::Function" and not (
            function.get("Properties") or {}
        ).get("Role"):
            return logical_id.removesuffix("Role")
        return logical_id

    def creation_order(self) -> list[str]:
        """Active resources ordered so each comes after everything it references."""
        active = self.resources
        dependencies: dict[str, set[str]] = {}
        for logical_id, resource in active.items():
            depends_on = resource.get("DependsOn") or []
            if isinstance(depends_on, str):
                depends_on = [depends_on]
            wanted = references(resource) | set(depends_on)
            dependencies[logical_id] = {
                self._declaring(name) for name in wanted if self._declaring(name) in active
            }
        ordered: list[str] = []
        state: dict[str, int] = {}

        def visit(logical_id: str, trail: tuple[str, ...]) -> None:
            if state.get(logical_id) == 2:
                return
            if state.get(logical_id) == 1:
                cycle = " -> ".join((*trail, logical_id))
                raise TemplateError(f"circular dependency: {cycle}")
            state[logical_id] = 1
            for dependency in sorted(dependencies[logical_id]):
                visit(dependency, (*trail, logical_id))
            state[logical_id] = 2
            ordered.append(logical_id)

        for logical_id in active:
            visit(logical_id, ())
        return ordered


def load_template(
    source: str | Path,
    *,
    parameter_overrides: str | Mapping[str, Any] | Iterable[str] | None = None,
    pseudo: PseudoParameters | None = None,
) -> Template:
    """Load a SAM template file, bind parameters and evaluate conditions."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    document = apply_globals(load_yaml(text))
    return bind_template(
        document,
        directory=path.resolve().parent,
        parameter_overrides=parameter_overrides,
        pseudo=pseudo,
        path=path.resolve(),
    )


def bind_template(
    document: dict[str, Any],
    *,
    directory: Path,
    parameter_overrides: str | Mapping[str, Any] | Iterable[str] | None = None,
    pseudo: PseudoParameters | None = None,
    path: Path | None = None,
) -> Template:
    """Bind parameters and conditions of an already parsed (Globals-applied) document."""
    pseudo = pseudo or PseudoParameters()
    overrides = parse_parameter_overrides(parameter_overrides)
    declared: Mapping[str, Any] = document.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"parameter overrides for undeclared parameters: {unknown}")
    parameters: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = _parameter_string(spec["Default"])
        else:
            raise TemplateError(f"parameter {name} has no Default and no override")
        parameters[name] = _parameter_value(name, spec, raw)
    template = Template(
        document=document,
        directory=directory,
        pseudo=pseudo,
        parameters=parameters,
        conditions={},
        path=path,
    )
    resolver = template.resolver()
    template.conditions = {
        name: resolver.condition(name) for name in (document.get("Conditions") or {})
    }
    return template
