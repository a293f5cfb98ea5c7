"""The local stack's IAM evaluation: which calls a role's policies allow, as AWS decides it.

Table tests of the evaluator (actions, resources, wildcards, Deny), of SAM policy templates
expanded as SAM expands them, and of the mapping from an API call to the IAM action and
resource ARN it is authorized with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from videojobs_local.stack.iam_guard import CallContext, requested_permissions
from videojobs_local.stack.iam_policy import (
    Decision,
    Role,
    evaluate,
    expand_policies,
    statements_of_document,
)
from videojobs_local.stack.template import PseudoParameters, Resolver

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/jobs"
BUCKET = "arn:aws:s3:::assets"
RESOLVER = Resolver(parameters={}, pseudo=PseudoParameters(account_id=ACCOUNT))
CTX = CallContext(region="us-east-1", account_id=ACCOUNT, partition="aws")

POLICY = statements_of_document(
    {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                "Resource": [TABLE, f"{TABLE}/index/*"],
            },
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": f"{BUCKET}/videos/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET}/results/??.json"},
            {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"},
            {"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:states:*"},
        ]
    },
    source="Statement",
)


@pytest.mark.parametrize(
    ("action", "resource", "decision"),
    [
        # allowed: exact action and resource
        ("dynamodb:GetItem", TABLE, Decision.ALLOWED),
        # actions are case-insensitive, as in IAM
        ("DynamoDB:getitem", TABLE, Decision.ALLOWED),
        # an index is its own resource, granted by the index/* pattern
        ("dynamodb:Query", f"{TABLE}/index/by-tenant", Decision.ALLOWED),
        # denied by action: the table is granted, the action is not
        ("dynamodb:PutItem", TABLE, Decision.IMPLICIT_DENY),
        # denied by resource: another table
        (
            "dynamodb:GetItem",
            f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/other",
            Decision.IMPLICIT_DENY,
        ),
        # resources are case-sensitive
        ("dynamodb:GetItem", TABLE.upper(), Decision.IMPLICIT_DENY),
        # action wildcard, resource wildcard under a prefix
        ("s3:GetObject", f"{BUCKET}/videos/t/j/video.mp4", Decision.ALLOWED),
        ("s3:GetObject", f"{BUCKET}/inputs/t/j/reference.png", Decision.IMPLICIT_DENY),
        # `?` is exactly one character
        ("s3:PutObject", f"{BUCKET}/results/ab.json", Decision.ALLOWED),
        ("s3:PutObject", f"{BUCKET}/results/abc.json", Decision.IMPLICIT_DENY),
        # a dot in a pattern is a dot, not any character
        ("s3:PutObject", f"{BUCKET}/results/abXjson", Decision.IMPLICIT_DENY),
        # an explicit Deny wins over an Allow
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q", Decision.ALLOWED),
        ("sqs:DeleteQueue", "arn:aws:sqs:us-east-1:1:q", Decision.EXPLICIT_DENY),
        # NotAction: everything but S3 on that resource pattern
        ("states:StartExecution", "arn:aws:states:us-east-1:1:stateMachine:m", Decision.ALLOWED),
        ("s3:ListBucket", "arn:aws:states:us-east-1:1:stateMachine:m", Decision.IMPLICIT_DENY),
    ],
)
def test_the_evaluator_decides_as_iam_does(action: str, resource: str, decision: Decision) -> None:
    # Given the policy above; When one action on one resource is evaluated
    result, _ = evaluate(POLICY, action, resource)

    # Then the decision is IAM's
    assert result is decision


def test_no_statement_at_all_is_an_implicit_deny() -> None:
    assert evaluate([], "dynamodb:GetItem", TABLE)[0] is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("policy", "allowed", "refused"),
    [
        (
            {"DynamoDBCrudPolicy": {"TableName": "jobs"}},
            [("dynamodb:UpdateItem", TABLE), ("dynamodb:Query", f"{TABLE}/index/by-tenant")],
            [("dynamodb:DeleteTable", TABLE), ("dynamodb:GetItem", TABLE + "2")],
        ),
        (
            {"DynamoDBReadPolicy": {"TableName": "jobs"}},
            [("dynamodb:GetItem", TABLE), ("dynamodb:Scan", TABLE)],
            [("dynamodb:PutItem", TABLE), ("dynamodb:ConditionCheckItem", TABLE)],
        ),
        (
            {"S3CrudPolicy": {"BucketName": "assets"}},
            [("s3:PutObject", f"{BUCKET}/videos/a"), ("s3:ListBucket", BUCKET)],
            # SAM's CRUD template has no multipart abort
            [
                ("s3:AbortMultipartUpload", f"{BUCKET}/videos/a"),
                ("s3:GetObject", "arn:aws:s3:::x/a"),
            ],
        ),
        (
            {"S3ReadPolicy": {"BucketName": "assets"}},
            [("s3:GetObject", f"{BUCKET}/a")],
            [("s3:PutObject", f"{BUCKET}/a")],
        ),
        (
            {"SQSSendMessagePolicy": {"QueueName": "callbacks"}},
            # sqs:SendMessage* covers the batch form's action too
            [("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:callbacks")],
            [("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:callbacks")],
        ),
        (
            {"EventBridgePutEventsPolicy": {"EventBusName": "default"}},
            [("events:PutEvents", f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default")],
            [("events:PutEvents", f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/other")],
        ),
        (
            {
                "AWSSecretsManagerGetSecretValuePolicy": {
                    "SecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:p-AbCdEf"
                }
            },
            [
                (
                    "secretsmanager:GetSecretValue",
                    "arn:aws:secretsmanager:us-east-1:1:secret:p-AbCdEf",
                )
            ],
            [
                (
                    "secretsmanager:PutSecretValue",
                    "arn:aws:secretsmanager:us-east-1:1:secret:p-AbCdEf",
                )
            ],
        ),
        (
            {"LambdaInvokePolicy": {"FunctionName": "submit"}},
            # the template's trailing * also covers versions and aliases
            [
                ("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:submit"),
                (
                    "lambda:InvokeFunction",
                    f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:submit:live",
                ),
            ],
            [("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:check")],
        ),
    ],
)
def test_sam_policy_templates_expand_as_sam_expands_them(
    policy: dict[str, Any], allowed: list[tuple[str, str]], refused: list[tuple[str, str]]
) -> None:
    # Given a Policies entry naming a SAM policy template
    statements = expand_policies([policy], RESOLVER, owner="Function")

    # Then it grants what SAM's expansion grants, and nothing more
    for action, resource in allowed:
        assert evaluate(statements, action, resource)[0] is Decision.ALLOWED, (action, resource)
    for action, resource in refused:
        assert evaluate(statements, action, resource)[0] is not Decision.ALLOWED, (action, resource)
    assert {s.source for s in statements} == set(policy)


def test_inline_statements_and_templates_combine() -> None:
    statements = expand_policies(
        [
            {"S3ReadPolicy": {"BucketName": "assets"}},
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:AbortMultipartUpload"],
                        "Resource": f"{BUCKET}/videos/*",
                    }
                ]
            },
        ],
        RESOLVER,
        owner="Store",
    )

    assert (
        evaluate(statements, "s3:AbortMultipartUpload", f"{BUCKET}/videos/a")[0] is Decision.ALLOWED
    )
    assert (
        evaluate(statements, "s3:AbortMultipartUpload", f"{BUCKET}/inputs/a")[0]
        is not Decision.ALLOWED
    )


def test_a_managed_policy_name_grants_nothing_locally() -> None:
    assert expand_policies(["AmazonS3FullAccess"], RESOLVER, owner="Function") == []


def test_an_unknown_policy_template_is_refused() -> None:
    with pytest.raises(ValueError, match="not a SAM policy template"):
        expand_policies([{"S3EverythingPolicy": {"BucketName": "b"}}], RESOLVER, owner="F")


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("dynamodb", "PutItem", {"TableName": "jobs"}, [("dynamodb:PutItem", TABLE)]),
        (
            "dynamodb",
            "Query",
            {"TableName": "jobs", "IndexName": "by-tenant"},
            [("dynamodb:Query", f"{TABLE}/index/by-tenant")],
        ),
        (
            "dynamodb",
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Update": {"TableName": "jobs"}},
                    {"ConditionCheck": {"TableName": "c"}},
                ]
            },
            [
                ("dynamodb:UpdateItem", TABLE),
                ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/c"),
            ],
        ),
        (
            "s3",
            "HeadObject",
            {"Bucket": "assets", "Key": "a/b"},
            [("s3:GetObject", f"{BUCKET}/a/b")],
        ),
        ("s3", "UploadPart", {"Bucket": "assets", "Key": "k"}, [("s3:PutObject", f"{BUCKET}/k")]),
        (
            "s3",
            "AbortMultipartUpload",
            {"Bucket": "assets", "Key": "k", "UploadId": "u"},
            [("s3:AbortMultipartUpload", f"{BUCKET}/k")],
        ),
        ("s3", "ListObjectsV2", {"Bucket": "assets"}, [("s3:ListBucket", BUCKET)]),
        (
            "s3",
            "DeleteObjects",
            {"Bucket": "assets", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b"}]}},
            [("s3:DeleteObject", f"{BUCKET}/a"), ("s3:DeleteObject", f"{BUCKET}/b")],
        ),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": f"http://127.0.0.1:1/{ACCOUNT}/callbacks"},
            [("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:callbacks")],
        ),
        (
            "events",
            "PutEvents",
            {"Entries": [{"Source": "x"}, {"Source": "y", "EventBusName": "jobs"}]},
            [
                ("events:PutEvents", f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"),
                ("events:PutEvents", f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/jobs"),
            ],
        ),
        (
            "states",
            "StopExecution",
            {"executionArn": "arn:aws:states:us-east-1:1:execution:m:e"},
            [("states:StopExecution", "arn:aws:states:us-east-1:1:execution:m:e")],
        ),
        (
            "bedrock",
            "StartAsyncInvoke",
            {
                "modelId": "amazon.nova-reel-v1:1",
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://assets/bedrock/job1"}},
            },
            [
                (
                    "bedrock:InvokeModel",
                    "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-reel-v1:1",
                ),
                ("s3:PutObject", f"{BUCKET}/bedrock/job1/*"),
            ],
        ),
        (
            "bedrock",
            "GetAsyncInvoke",
            {"invocationArn": f"arn:aws:bedrock:us-east-1:{ACCOUNT}:async-invoke/abc"},
            [("bedrock:GetAsyncInvoke", f"arn:aws:bedrock:us-east-1:{ACCOUNT}:async-invoke/abc")],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "submit"},
            [("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:submit")],
        ),
    ],
)
def test_calls_map_to_the_action_and_resource_aws_authorizes(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert requested_permissions(CTX, service, operation, params) == expected


def test_a_role_names_its_session_as_aws_does() -> None:
    role = Role(
        owner="StoreFunction",
        arn=f"arn:aws:iam::{ACCOUNT}:role/stack-StoreFunctionRole-ABC",
        session_name="stack-StoreFunction-XYZ",
        statements=(),
    )

    assert role.session_arn == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/stack-StoreFunctionRole-ABC/stack-StoreFunction-XYZ"
    )


def test_the_unused_grants_report_lists_what_no_call_used(tmp_path: Any) -> None:
    # Given the records two stacks of the same template wrote, and one of another template
    from videojobs_local.stack import iam_report

    template = tmp_path / "template.yaml"
    template.write_text("")

    def line(kind: str, owner: str, action: str, template_path: str = str(template)) -> str:
        return json.dumps(
            {
                "template": template_path,
                "kind": kind,
                "owner": owner,
                "source": "DynamoDBCrudPolicy",
                "action": action,
                "resource": "arn:aws:dynamodb:us-east-1:1:table/${JobsTable}",
            }
        )

    record = tmp_path / "record.jsonl"
    record.write_text(
        "\n".join(
            [
                line("granted", "Submit", "dynamodb:GetItem"),
                line("granted", "Submit", "dynamodb:Scan"),
                line("used", "Submit", "dynamodb:GetItem"),
                line("granted", "Submit", "dynamodb:Query"),
                line("used", "Submit", "dynamodb:Query"),
                line("granted", "Other", "dynamodb:DeleteItem", template_path="/elsewhere.yaml"),
            ]
        )
    )
    document = tmp_path / "security.md"
    document.write_text(
        f"# Security\n\n{iam_report.START_MARKER}\nold\n{iam_report.END_MARKER}\nafter\n"
    )

    # When the report updates the document
    assert (
        iam_report.main([str(record), "--template", str(template), "--update", str(document)]) == 0
    )

    # Then only the grant no call used is listed, and the rest of the document is kept
    text = document.read_text()
    assert "`dynamodb:Scan`" in text
    assert "GetItem" not in text and "Query" not in text and "DeleteItem" not in text
    assert "old" not in text and text.endswith(f"{iam_report.END_MARKER}\nafter\n")
