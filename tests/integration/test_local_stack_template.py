"""The SAM template loader: short-form tags, parameters, Globals, conditions, intrinsics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from videojobs_local.stack.template import (
    NO_VALUE,
    PseudoParameters,
    ResourceRecord,
    TemplateError,
    load_template,
    load_yaml,
    merge_globals,
    parse_parameter_overrides,
)

PSEUDO = PseudoParameters(region="eu-west-1", account_id="111122223333", stack_name="demo")

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Retention:
    Type: Number
    Default: 7
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Equals [!Ref Stage, prod]]
Globals:
  Function:
    Runtime: python3.13
    Timeout: 10
    Layers: [global-layer]
    Environment:
      Variables:
        LOG_LEVEL: INFO
        STAGE: !Ref Stage
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-jobs"
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Fn:
    Type: AWS::Serverless::Function
    DependsOn: ProdOnly
    Properties:
      Handler: app.handler
      Timeout: 30
      Layers: [local-layer]
      MemorySize: !If [IsProd, 1024, 256]
      Environment:
        Variables:
          TABLE: !Ref Table
          LOG_LEVEL: DEBUG
      Policies:
        - Version: 2012-10-17
          Statement: []
Outputs:
  TableArn:
    Value: !GetAtt Table.Arn
"""


def write(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_short_form_tags_become_long_form() -> None:
    # Given every short-form tag the project's templates use
    document = load_yaml(
        textwrap.dedent(
            """
            a: !Ref X
            b: !GetAtt Fn.Arn
            c: !GetAtt [Fn, Arn]
            d: !Sub "${X}-y"
            e: !Sub ["${A}", {A: !Ref X}]
            g: !If [Cond, 1, 2]
            j: !Equals [a, b]
            k: !Not [!Equals [a, b]]
            m: 2012-10-17
            """
        )
    )
    # Then they are plain long-form dicts, and dates stay strings as in CloudFormation
    assert document["a"] == {"Ref": "X"}
    assert document["b"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert document["c"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert document["d"] == {"Fn::Sub": "${X}-y"}
    assert document["e"] == {"Fn::Sub": ["${A}", {"A": {"Ref": "X"}}]}
    assert document["g"] == {"Fn::If": ["Cond", 1, 2]}
    assert document["j"] == {"Fn::Equals": ["a", "b"]}
    assert document["k"] == {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}
    assert document["m"] == "2012-10-17"


@pytest.mark.parametrize("text", ['a: !Join ["-", [x, y]]', "a: !FindInMap [M, K, V]"])
def test_intrinsics_template_yaml_does_not_use_are_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="unsupported intrinsic"):
        load_yaml(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1 B=two", {"A": "1", "B": "two"}),
        ("A='x y' B=\"p q\"", {"A": "x y", "B": "p q"}),
        (
            "ParameterKey=A,ParameterValue=v1 ParameterKey=B,ParameterValue=a=b",
            {"A": "v1", "B": "a=b"},
        ),
        ("A=", {"A": ""}),
        ("", {}),
    ],
)
def test_parameter_overrides_parse_like_sam(text: str, expected: dict[str, str]) -> None:
    assert parse_parameter_overrides(text) == expected


def test_parameter_overrides_accept_mappings_and_lists() -> None:
    assert parse_parameter_overrides({"A": 1, "B": True}) == {"A": "1", "B": "true"}
    assert parse_parameter_overrides(["A=1", "B=2"]) == {"A": "1", "B": "2"}


def test_malformed_parameter_override_is_rejected() -> None:
    with pytest.raises(TemplateError, match="Key=Value"):
        parse_parameter_overrides("JustAWord")


def test_defaults_globals_and_conditions(tmp_path: Path) -> None:
    # Given the template with its defaults
    template = load_template(write(tmp_path, TEMPLATE), pseudo=PSEUDO)

    # Then parameters take their defaults, typed lists split
    assert template.parameters == {"Stage": "dev", "Retention": "7"}
    assert template.conditions == {"IsProd": False, "NotProd": True}
    # And resources under a false condition are left out
    assert list(template.resources) == ["Table", "Fn"]
    # And Globals merge: resource scalars win, maps merge, lists concatenate
    properties = template.resources["Fn"]["Properties"]
    assert properties["Runtime"] == "python3.13"
    assert properties["Timeout"] == 30
    assert properties["Layers"] == ["global-layer", "local-layer"]
    assert properties["Environment"]["Variables"] == {
        "LOG_LEVEL": "DEBUG",
        "STAGE": {"Ref": "Stage"},
        "TABLE": {"Ref": "Table"},
    }
    # And unquoted policy versions stay strings
    assert properties["Policies"][0]["Version"] == "2012-10-17"


def test_overrides_flip_conditions_and_mappings(tmp_path: Path) -> None:
    template = load_template(
        write(tmp_path, TEMPLATE), parameter_overrides="Stage=prod", pseudo=PSEUDO
    )
    resolver = template.resolver()

    assert template.conditions["IsProd"] is True
    assert list(template.resources) == ["Table", "ProdOnly", "Fn"]
    memory = template.resources["Fn"]["Properties"]["MemorySize"]
    assert resolver.resolve(memory) == 1024


def test_override_outside_allowed_values_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not one of"):
        load_template(write(tmp_path, TEMPLATE), parameter_overrides="Stage=qa", pseudo=PSEUDO)


def test_override_for_undeclared_parameter_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="undeclared"):
        load_template(write(tmp_path, TEMPLATE), parameter_overrides="Nope=1", pseudo=PSEUDO)


def test_parameter_without_default_needs_an_override(tmp_path: Path) -> None:
    path = write(tmp_path, "Parameters:\n  Key: {Type: String}\nResources: {}\n")
    with pytest.raises(TemplateError, match="no Default"):
        load_template(path)
    assert load_template(path, parameter_overrides="Key=k").parameters == {"Key": "k"}


@pytest.mark.parametrize(
    ("override", "message"),
    [("N=abc", "not a number"), ("N=0", "below 1"), ("N=11", "above 10"), ("S=x", "match")],
)
def test_parameter_constraints_are_enforced(tmp_path: Path, override: str, message: str) -> None:
    path = write(
        tmp_path,
        """
        Parameters:
          N: {Type: Number, Default: 1, MinValue: 1, MaxValue: 10}
          S: {Type: String, Default: ok, AllowedPattern: "^[a-z]{2}$"}
        Resources: {}
        """,
    )
    assert load_template(path).parameters == {"N": "1", "S": "ok"}
    with pytest.raises(TemplateError, match=message):
        load_template(path, parameter_overrides=override)


def test_intrinsics_resolve_against_pseudo_parameters_and_resources(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, TEMPLATE), pseudo=PSEUDO)
    resolver = template.resolver(
        {
            "Table": ResourceRecord(
                "Table", "AWS::DynamoDB::Table", "demo-jobs", {"Arn": "arn:table"}
            )
        }
    )

    def resolve(text: str) -> object:
        return resolver.resolve(load_yaml(f"v: {text}")["v"])

    assert resolve('!Sub "${AWS::StackName}-${AWS::Region}-${AWS::AccountId}"') == (
        "demo-eu-west-1-111122223333"
    )
    assert resolve('!Sub "${Table}|${Table.Arn}|${!Literal}|${AWS::Partition}"') == (
        "demo-jobs|arn:table|${Literal}|aws"
    )
    assert resolve('!Sub ["${A}/${Stage}", {A: !GetAtt Table.Arn}]') == "arn:table/dev"
    assert resolve("!If [IsProd, big, small]") == "small"
    assert resolve("!GetAtt [Table, Arn]") == "arn:table"
    assert resolve("!Ref AWS::URLSuffix") == "amazonaws.com"


def test_no_value_removes_the_property(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, TEMPLATE), pseudo=PSEUDO)
    resolver = template.resolver()
    node = load_yaml("v: {A: !If [IsProd, x, !Ref AWS::NoValue], B: [1, !Ref AWS::NoValue]}")
    assert resolver.resolve(node["v"]) == {"B": [1]}
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_unknown_references_and_attributes_fail_loudly(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, TEMPLATE), pseudo=PSEUDO)
    resolver = template.resolver(
        {"Table": ResourceRecord("Table", "AWS::DynamoDB::Table", "t", {"Arn": "a"})}
    )
    with pytest.raises(TemplateError, match="Ref to unknown"):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match="no attribute StreamArn"):
        resolver.resolve({"Fn::GetAtt": ["Table", "StreamArn"]})
    with pytest.raises(TemplateError, match="unsupported intrinsic"):
        resolver.resolve({"Fn::Join": ["-", ["a", "b"]]})


def test_creation_order_follows_references(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        Resources:
          Machine:
            Type: AWS::Serverless::StateMachine
            Properties:
              DefinitionSubstitutions: {Fn: !GetAtt Fn.Arn, Sub: !Sub "${Queue.Arn}"}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Environment: {Variables: {T: !Ref Table}}
          Queue:
            Type: AWS::SQS::Queue
            DependsOn: Table
          Table:
            Type: AWS::DynamoDB::Table
        """,
    )
    order = load_template(path).creation_order()
    assert order.index("Table") < order.index("Fn") < order.index("Machine")
    assert order.index("Table") < order.index("Queue") < order.index("Machine")


def test_circular_dependency_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        Resources:
          A: {Type: AWS::SQS::Queue, Properties: {X: !Ref B}}
          B: {Type: AWS::SQS::Queue, Properties: {X: !GetAtt A.Arn}}
        """,
    )
    with pytest.raises(TemplateError, match="circular dependency"):
        load_template(path).creation_order()


def test_merge_globals_is_sam_like() -> None:
    merged = merge_globals(
        {"A": 1, "M": {"x": 1, "y": 1}, "L": [1], "S": "g"},
        {"M": {"y": 2}, "L": [2], "S": "local"},
    )
    assert merged == {"A": 1, "M": {"x": 1, "y": 2}, "L": [1, 2], "S": "local"}
