"""template.yaml makes the stack operable: an alarm for each way it can hurt, all into one
topic; a log group with retention per function; Lambda's log level from LogLevel; API access
logs without credentials; the state machine's errors logged; a dashboard over the metrics the
code emits; checkov clean, with a reason for every check it skips."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from videojobs_local.stack.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
FUNCTIONS = sorted(
    name for name, spec in RESOURCES.items() if spec["Type"] == "AWS::Serverless::Function"
)
WORKFLOW_FUNCTIONS = {
    "SubmitFunction",
    "AwaitFunction",
    "CheckFunction",
    "StoreFunction",
    "FinalizeFunction",
    "FailFunction",
}
CODE = "\n".join(p.read_text() for p in (ROOT / "functions/videojobs").rglob("*.py"))


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in RESOURCES.items() if spec["Type"] == kind}


def alarm(name: str) -> dict[str, Any]:
    spec = RESOURCES[name]
    assert spec["Type"] == "AWS::CloudWatch::Alarm"
    props: dict[str, Any] = spec["Properties"]
    return props


def metric_of(props: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric the alarm reads."""
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in props["Metrics"]
        if "MetricStat" in m
    }


def dimensions_of(props: dict[str, Any]) -> list[list[dict[str, Any]]]:
    if "Dimensions" in props:
        return [props["Dimensions"]]
    return [m["MetricStat"]["Metric"]["Dimensions"] for m in props["Metrics"] if "MetricStat" in m]


@pytest.mark.parametrize(
    ("name", "namespace", "metric"),
    [
        ("CallbacksDeadLetterAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("IntakeDeadLetterAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("ReaperDeadLetterAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("BedrockOutputDeadLetterAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("ExecutionsFailedAlarm", "AWS/States", "ExecutionsFailed"),
        ("ExecutionsTimedOutAlarm", "AWS/States", "ExecutionsTimedOut"),
        ("ExecutionThrottledAlarm", "AWS/States", "ExecutionThrottled"),
        ("WorkflowFunctionErrorsAlarm", "AWS/Lambda", "Errors"),
        ("WorkflowFunctionThrottlesAlarm", "AWS/Lambda", "Throttles"),
        ("Api5xxRateAlarm", "AWS/ApiGateway", "5XXError"),
        ("ApiLatencyP99Alarm", "AWS/ApiGateway", "Latency"),
        ("ProviderThrottledAlarm", "videojobs", "ProviderThrottled"),
        ("JobsReapedAlarm", "videojobs", "JobsReaped"),
    ],
)
def test_each_alarm_watches_its_metric_and_notifies_the_topic_both_ways(
    name: str, namespace: str, metric: str
) -> None:
    props = alarm(name)
    assert (namespace, metric) in metric_of(props)
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert props["OKActions"] == [{"Ref": "AlarmTopic"}]
    # Quiet periods are not an outage.
    assert props["TreatMissingData"] == "notBreaching"
    # The runbook has a section for it.
    assert f"docs/operations.md#{name.lower()}" in props["AlarmDescription"]


def test_every_dead_letter_queue_has_an_alarm() -> None:
    queues = {n for n in of_type("AWS::SQS::Queue") if n.endswith("DeadLetterQueue")}
    watched = set()
    for props in (spec["Properties"] for spec in of_type("AWS::CloudWatch::Alarm").values()):
        for dimensions in dimensions_of(props):
            for dimension in dimensions:
                if dimension["Name"] == "QueueName":
                    watched.add(dimension["Value"]["Fn::GetAtt"][0])
    assert queues == watched
    # ... and every queue that dead-letters points at one of them
    for spec in of_type("AWS::SQS::Queue").values():
        redrive = spec["Properties"].get("RedrivePolicy")
        if redrive:
            assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] in queues


def test_the_function_alarms_sum_every_workflow_function() -> None:
    for name in ("WorkflowFunctionErrorsAlarm", "WorkflowFunctionThrottlesAlarm"):
        dimensions = dimensions_of(alarm(name))
        functions = {d[0]["Value"]["Ref"] for d in dimensions}
        assert functions == WORKFLOW_FUNCTIONS
        (total,) = [m for m in alarm(name)["Metrics"] if m.get("ReturnData")]
        assert total["Expression"].startswith("SUM(")


def test_state_machine_alarms_watch_this_state_machine() -> None:
    for name in ("ExecutionsFailedAlarm", "ExecutionsTimedOutAlarm", "ExecutionThrottledAlarm"):
        for dimensions in dimensions_of(alarm(name)):
            assert dimensions == [
                {"Name": "StateMachineArn", "Value": {"Ref": "VideoJobStateMachine"}}
            ]


def test_custom_metric_alarms_read_this_stacks_service_dimension_and_metrics_the_code_emits() -> (
    None
):
    # The service dimension is the stack name, so that dev and prod in one account keep apart.
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "videojobs"
    for name in ("ProviderThrottledAlarm", "JobsReapedAlarm"):
        props = alarm(name)
        assert props["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
        assert f'"{props["MetricName"]}"' in CODE


def test_the_alarm_email_is_subscribed_only_when_given() -> None:
    assert PARAMETERS["AlarmEmail"]["Default"] == ""
    pattern = re.compile(PARAMETERS["AlarmEmail"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("ops@example.com")
    assert not pattern.fullmatch("not an address")
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert TEMPLATE["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }


def test_every_function_has_a_log_group_with_the_retention_parameter() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    for function in FUNCTIONS:
        props = groups[f"{function}LogGroup"]["Properties"]
        assert props["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for props in (spec["Properties"] for spec in groups.values()):
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert PARAMETERS["LogRetentionDays"]["Default"] == 30
    assert 30 in PARAMETERS["LogRetentionDays"]["AllowedValues"]


def test_lambda_application_log_level_is_the_log_level_parameter_spelled_as_lambda_wants() -> None:
    logging_config = TEMPLATE["Globals"]["Function"]["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    assert logging_config["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    allowed = PARAMETERS["LogLevel"]["AllowedValues"]
    assert "WARN" in allowed
    assert "WARNING" not in allowed
    assert set(allowed) <= {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
    assert PARAMETERS["LogLevel"]["Default"] in allowed
    # No function overrides the level the parameter sets.
    for function in FUNCTIONS:
        assert "LoggingConfig" not in RESOURCES[function]["Properties"]


def test_api_access_logs_are_json_without_credentials() -> None:
    api = RESOURCES["VideoApi"]
    settings = api["Properties"]["AccessLogSetting"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    assert {"requestId", "status", "resourcePath", "httpMethod", "responseLatency"} <= set(line)
    # Who called is the key id (the authorizer's principal), never a header or the key.
    assert line["keyId"] == "$context.authorizer.principalId"
    lowered = settings["Format"].lower()
    for leak in ("header", "apikey", "authorization", "querystring", "body", "cognito"):
        assert leak not in lowered
    # API Gateway needs its account-wide logs role before the stage can log.
    assert api["DependsOn"] == "ApiGatewayAccount"
    assert RESOURCES["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]
    }


def test_the_state_machine_logs_errors_to_its_own_group_without_execution_data() -> None:
    logging = RESOURCES["VideoJobStateMachine"]["Properties"]["Logging"]
    assert logging["Level"] == "ERROR"
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }


@pytest.mark.parametrize("function", ["ReaperFunction", "BedrockOutputFunction"])
def test_each_asynchronously_invoked_function_has_a_dead_letter_queue(function: str) -> None:
    queue = function.removesuffix("Function") + "DeadLetterQueue"
    assert RESOURCES[function]["Properties"]["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": [queue, "Arn"]},
    }


def test_the_dashboard_shows_what_operators_watch() -> None:
    body_template = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # Substitute the references with plausible values: the body must then be valid JSON.
    body = json.loads(re.sub(r"\$\{[^}]+\}", "5", body_template))
    metrics = {
        (m[0], m[1])
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for m in widget["properties"]["metrics"]
        if isinstance(m[0], str)
    }
    for name in (
        "JobsCreated",
        "JobsCompleted",
        "JobsFailed",
        "GenerationSeconds",
        "JobsWaiting",
        "SlotsInUse",
        "ProviderRequests",
        "ProviderThrottled",
        "CallbacksDelivered",
        "CallbackAttemptsFailed",
        "CostSettledMicros",
    ):
        assert ("videojobs", name) in metrics
        assert f'"{name}"' in CODE, f"no code emits {name}"
    stats = {
        m[-1].get("stat")
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for m in widget["properties"]["metrics"]
        if isinstance(m[-1], dict) and m[1:2] == ["GenerationSeconds"]
    }
    assert stats == {"p50", "p90"}
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    shown = set(re.findall(r"\$\{(\w+)\.Arn\}", body_template))
    assert shown == set(of_type("AWS::CloudWatch::Alarm"))
    assert len(alarms["properties"]["alarms"]) == len(shown)


def test_every_checkov_skip_gives_a_reason() -> None:
    skips = [
        (name, skip)
        for name, spec in RESOURCES.items()
        for skip in spec.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
        assert len(skip.get("comment", "")) > 20, f"{name} skips {skip['id']} without a reason"


def test_checkov_reports_no_failed_check() -> None:
    checkov = ROOT / ".venv-checkov/bin/checkov"
    exe = str(checkov) if checkov.exists() else shutil.which("checkov")
    if exe is None:
        pytest.fail("checkov is not installed: run `make checkov` (make test does)")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            exe,
            "-f",
            str(ROOT / "template.yaml"),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0, [
        (c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]
    ]
    assert report["summary"]["passed"] > 0


@pytest.mark.parametrize("level", PARAMETERS["LogLevel"]["AllowedValues"])
def test_each_log_level_is_the_level_powertools_logs_at_in_lambda(
    level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from aws_lambda_powertools import Logger

    # Given a function configured as template.yaml does: Lambda's ApplicationLogLevel (which
    # Lambda passes as AWS_LAMBDA_LOG_LEVEL) and POWERTOOLS_LOG_LEVEL both from LogLevel
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", level)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", level)

    # When Powertools builds its logger
    logger = Logger(service=f"level-{level.lower()}")

    # Then it logs from that level up
    expected = {
        "DEBUG": logging.DEBUG,
        "INFO": logging.INFO,
        "WARN": logging.WARNING,
        "ERROR": logging.ERROR,
    }
    assert logger.log_level == expected[level]
