"""template.yaml and the state machine definition hang together: cfn-lint is clean, every
handler resolves, every ASL placeholder has a substitution, and every API route is served."""

from __future__ import annotations

import importlib
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
FUNCTIONS = {
    name: spec for name, spec in RESOURCES.items() if spec["Type"] == "AWS::Serverless::Function"
}
MACHINE = RESOURCES["VideoJobStateMachine"]["Properties"]
ASL_TEXT = (ROOT / MACHINE["DefinitionUri"]).read_text()
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _substituted_asl() -> dict[str, Any]:
    numeric = {
        "MaxConcurrentJobs",
        "MaxJobsPerTenant",
        "SlotWaitSeconds",
        "JobTimeoutSeconds",
        "ProviderRetryIntervalSeconds",
    }
    return json.loads(
        PLACEHOLDER.sub(
            lambda m: "7" if m.group(1) in numeric else f"value-of-{m.group(1)}", ASL_TEXT
        )
    )


def test_cfn_lint_with_the_sam_transform_reports_nothing() -> None:
    exe = shutil.which("cfn-lint") or str(Path(__file__).parents[2] / ".venv/bin/cfn-lint")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [exe, "--format", "parseable", str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_handler_resolves_to_a_callable(name: str) -> None:
    module_name, _, attribute = FUNCTIONS[name]["Properties"]["Handler"].rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute))


def test_every_function_code_lives_in_the_functions_package() -> None:
    assert TEMPLATE["Globals"]["Function"]["CodeUri"] == "functions/"
    assert (ROOT / "functions/requirements.txt").is_file()
    assert TEMPLATE["Globals"]["Function"]["Runtime"] == "python3.13"
    assert TEMPLATE["Globals"]["Function"]["Architectures"] == ["arm64"]


def test_every_asl_placeholder_has_a_substitution_and_none_is_unused() -> None:
    used = set(PLACEHOLDER.findall(ASL_TEXT))
    given = set(MACHINE["DefinitionSubstitutions"])
    assert used == given


def test_substitutions_point_at_template_resources_or_parameters() -> None:
    def check(value: dict[str, Any]) -> None:
        if "Fn::GetAtt" in value:
            assert value["Fn::GetAtt"][0] in RESOURCES
        elif "Fn::If" in value:
            condition, *choices = value["Fn::If"]
            assert condition in TEMPLATE["Conditions"]
            for choice in choices:
                check(choice)
        else:
            target = value["Ref"]
            assert target in RESOURCES or target in TEMPLATE["Parameters"]

    for value in MACHINE["DefinitionSubstitutions"].values():
        check(value)


def test_state_machine_graph_is_closed_and_every_state_reachable() -> None:
    states: dict[str, Any] = _substituted_asl()["States"]
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        targets = {state[k] for k in ("Next", "Default") if k in state}
        targets |= {c["Next"] for c in state.get("Choices", [])}
        targets |= {c["Next"] for c in state.get("Catch", [])}
        edges[name] = targets
        assert targets <= set(states), f"{name} points at a missing state"
        if state["Type"] not in {"Choice", "Succeed", "Fail"} and not state.get("End"):
            assert "Next" in state, f"{name} neither ends nor continues"
    seen, todo = set(), [_substituted_asl()["StartAt"]]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(edges[current])
    assert seen == set(states)


def test_every_task_retries_and_the_machine_has_an_overall_timeout() -> None:
    definition = _substituted_asl()
    assert definition["TimeoutSeconds"] == 7
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{name} has no Retry"


def _api_routes() -> list[tuple[str, str, str]]:
    routes = []
    for name, spec in FUNCTIONS.items():
        for event in spec["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                routes.append((name, props["Method"].upper(), props["Path"]))
    return routes


_IDS = {"video_id": "video_" + "0" * 32, "batch_id": "vbatch_" + "0" * 32}


def _proxy_event(method: str, resource: str) -> dict[str, Any]:
    path = resource.replace("{video_id}", "video_" + "0" * 32)
    path = path.replace("{batch_id}", "vbatch_" + "0" * 32)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {
            name: value for name, value in _IDS.items() if "{" + name + "}" in resource
        }
        or None,
        "requestContext": {
            "stage": "live",
            "path": f"/live{path}",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "requestId": "test",
            "identity": {},
            "authorizer": {},
        },
        "body": None,
        "isBase64Encoded": False,
    }


_API_ROUTES = [r for r in _api_routes() if r[0] == "ApiFunction" and r[1] != "ANY"]


@pytest.mark.parametrize(
    ("function", "method", "path"), _API_ROUTES, ids=[f"{m} {p}" for f, m, p in _API_ROUTES]
)
def test_every_api_route_in_the_template_is_served_by_the_api_handler(
    function: str, method: str, path: str, lambda_context: Any
) -> None:
    from videojobs.handlers.api import handler

    response = handler(_proxy_event(method, path), lambda_context)
    public = event_auth(function, method, path) == {"Authorizer": "NONE"}
    if public:
        assert response["statusCode"] == 200
        return
    body = json.loads(response["body"])
    # Unrouted requests answer "Unknown request URL"; routed ones fail later (no tenant: 401).
    assert "Unknown request URL" not in body["error"]["message"]
    assert response["statusCode"] in {400, 401}


def test_every_api_path_has_an_any_method_without_the_authorizer() -> None:
    paths = {path for function, method, path in _api_routes() if function == "ApiFunction"}
    catch_alls = {
        path: event_auth("ApiFunction", "ANY", path)
        for function, method, path in _api_routes()
        if function == "ApiFunction" and method == "ANY"
    }
    assert set(catch_alls) == paths
    assert set(map(str, catch_alls.values())) == {str({"Authorizer": "NONE"})}


@pytest.mark.parametrize("method", ["PATCH", "PUT", "TRACE", "OPTIONS", "HEAD"])
@pytest.mark.parametrize("path", sorted({p for f, m, p in _API_ROUTES}))
def test_a_method_a_path_does_not_declare_is_a_405_listing_the_ones_it_does(
    path: str, method: str, lambda_context: Any
) -> None:
    # What the path's ANY method hands the API function (no authorizer ran).
    response = handler_for_any(_proxy_event(method, path), lambda_context)

    declared = sorted(m for f, m, p in _API_ROUTES if p == path)
    assert response["statusCode"] == 405
    assert response["multiValueHeaders"]["Allow"] == [", ".join(declared)]
    error = json.loads(response["body"])["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "method_not_allowed")


def handler_for_any(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from videojobs.handlers.api import handler

    event["requestContext"].pop("authorizer")
    return handler(event, context)


def event_auth(function: str, method: str, path: str) -> Any:
    for event in FUNCTIONS[function]["Properties"]["Events"].values():
        props = event["Properties"]
        if props["Path"] == path and props["Method"].upper() == method:
            return props.get("Auth")
    raise AssertionError(f"no route {method} {path}")


def test_the_provider_webhook_route_skips_the_api_key_authorizer() -> None:
    events = FUNCTIONS["ProviderWebhookFunction"]["Properties"]["Events"]
    (route,) = events.values()
    assert route["Properties"]["Path"] == "/webhooks/provider"
    assert route["Properties"]["Auth"] == {"Authorizer": "NONE"}
    api_auth = RESOURCES["VideoApi"]["Properties"]["Auth"]
    assert api_auth["DefaultAuthorizer"] == "ApiKeyAuthorizer"


def test_no_managed_full_access_policies() -> None:
    text = (ROOT / "template.yaml").read_text()
    assert "FullAccess" not in text


# --- least privilege -------------------------------------------------------------------------

_BUCKET_WIDE_POLICY_TEMPLATES = {
    "S3CrudPolicy",
    "S3ReadPolicy",
    "S3WritePolicy",
    "S3FullAccessPolicy",
}
_OBJECT_ARN = re.compile(r"^arn:\$\{AWS::Partition\}:s3:::\$\{AssetsBucket\}/([a-z]+)/\*$")
_BUCKET_ARN = "arn:${AWS::Partition}:s3:::${AssetsBucket}"
# What each function does in the assets bucket, by prefix, as the code needs it.
_S3_GRANTS: dict[str, dict[str, set[str]]] = {
    "ApiFunction": {
        "inputs": {"s3:PutObject", "s3:DeleteObject"},
        "videos": {"s3:GetObject", "s3:DeleteObject"},
        "results": {"s3:PutObject"},
        # A deleted Bedrock job's output that was never copied
        "bedrock": {"s3:DeleteObject"},
    },
    # Bedrock writes a job's output with the role that started it, under bedrock/ only.
    "SubmitFunction": {"inputs": {"s3:GetObject"}, "bedrock": {"s3:PutObject"}},
    "StoreFunction": {
        "videos": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject", "s3:DeleteObject"},
        # A Bedrock output is copied from bedrock/ into videos/, then removed.
        "bedrock": {"s3:GetObject", "s3:DeleteObject"},
    },
    # The late output of a cancelled Bedrock job is removed.
    "BedrockOutputFunction": {"bedrock": {"s3:DeleteObject"}},
    "FinalizeFunction": {"results": {"s3:PutObject"}},
    "FailFunction": {"results": {"s3:PutObject"}},
    "ReaperFunction": {"results": {"s3:PutObject"}},
    "IntakeFunction": {
        "intake": {"s3:GetObject", "s3:GetObjectVersion"},
        "results": {"s3:PutObject"},
    },
    "CallbacksFunction": {"videos": {"s3:GetObject"}},
}
# Listing, by the prefixes a function may list. None: unconditional, which only intake needs
# (a GetObject of a missing file answers 404 rather than 403 only with an unconditional
# s3:ListBucket, and intake reads files that may be gone and an optional _defaults.json).
_S3_LISTING: dict[str, set[str] | None] = {
    "ApiFunction": {"inputs/*", "videos/*", "bedrock/*"},
    "StoreFunction": {"videos/*", "bedrock/*"},
    "BedrockOutputFunction": {"bedrock/*"},
    "IntakeFunction": None,
}


def _statements(function: str) -> list[dict[str, Any]]:
    found = []
    for policy in FUNCTIONS[function]["Properties"].get("Policies", []):
        found.extend(policy.get("Statement", []))
    return found


def _sub_text(value: Any) -> str:
    return str(value["Fn::Sub"]) if isinstance(value, dict) and "Fn::Sub" in value else str(value)


def _s3_grants(function: str) -> tuple[dict[str, set[str]], list[dict[str, Any]]]:
    """(actions by object prefix, bucket-level statements) of a function's S3 statements."""
    by_prefix: dict[str, set[str]] = {}
    bucket_level = []
    for statement in _statements(function):
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a.startswith("s3:") for a in actions):
            continue
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            text = _sub_text(resource)
            match = _OBJECT_ARN.match(text)
            if match:
                by_prefix.setdefault(match.group(1), set()).update(actions)
            else:
                assert text == _BUCKET_ARN, f"{function}: S3 resource {text} is not a prefix"
                bucket_level.append(statement)
    return by_prefix, bucket_level


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_no_function_has_a_bucket_wide_s3_grant(function: str) -> None:
    policies = FUNCTIONS[function]["Properties"].get("Policies", [])
    # No SAM policy template that covers the whole bucket
    for policy in policies:
        assert not (_BUCKET_WIDE_POLICY_TEMPLATES & set(policy)), f"{function}: {policy}"
    by_prefix, bucket_level = _s3_grants(function)
    # Object actions only on the prefixes the function works on, and only the actions it needs
    assert by_prefix == _S3_GRANTS.get(function, {})
    # Listing only where needed, held to a prefix except where justified above
    listing = _S3_LISTING.get(function, set())
    for statement in bucket_level:
        assert statement["Action"] == ["s3:ListBucket"]
        condition = statement.get("Condition")
        if listing is None:
            assert condition is None
        else:
            assert condition == {"StringLike": {"s3:prefix": sorted(listing)}}
    assert bool(bucket_level) == (function in _S3_LISTING)


def _secrets_read(function: str) -> set[str]:
    read = set()
    for policy in FUNCTIONS[function]["Properties"].get("Policies", []):
        spec = policy.get("AWSSecretsManagerGetSecretValuePolicy")
        if spec is not None:
            read.add(spec["SecretArn"]["Ref"])
    return read


def test_the_webhook_function_reads_the_webhook_secret_and_never_the_provider_key() -> None:
    # Given the provider credentials as two secrets
    assert RESOURCES["ProviderApiKeySecret"]["Type"] == "AWS::SecretsManager::Secret"
    assert RESOURCES["ProviderWebhookSecret"]["Type"] == "AWS::SecretsManager::Secret"
    # Then the internet-facing webhook function may read the signing secret only
    assert _secrets_read("ProviderWebhookFunction") == {"ProviderWebhookSecret"}
    text = json.dumps(FUNCTIONS["ProviderWebhookFunction"]["Properties"].get("Policies", []))
    assert "ProviderApiKeySecret" not in text
    # And the key is read only by the functions that call the provider
    key_readers = {name for name in FUNCTIONS if "ProviderApiKeySecret" in _secrets_read(name)}
    assert key_readers == {
        "SubmitFunction",
        "CheckFunction",
        "StoreFunction",
        "FailFunction",
        "ApiFunction",
        "IntakeFunction",
    }
    webhook_readers = {name for name in FUNCTIONS if "ProviderWebhookSecret" in _secrets_read(name)}
    assert webhook_readers == {"ProviderWebhookFunction"}


# --- intake writers ----------------------------------------------------------------------------


def _bucket_policy(require_tag: str) -> list[dict[str, Any]]:
    from videojobs_local.stack.template import PseudoParameters, ResourceRecord, load_template

    template = load_template(
        ROOT / "template.yaml",
        parameter_overrides={
            "ProviderBaseUrl": "https://provider.example.com/v1",
            "IntakeWritersRequireTenantTag": require_tag,
        },
        pseudo=PseudoParameters(),
    )
    bucket = ResourceRecord(
        "AssetsBucket", "AWS::S3::Bucket", "assets", {"Arn": "arn:aws:s3:::assets"}
    )
    resolver = template.resolver({"AssetsBucket": bucket})
    policy = resolver.resolve(template.resources["AssetsBucketPolicy"]["Properties"])
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def _put_denied(statements: list[dict[str, Any]], key: str, tenant_tag: str | None) -> bool:
    """Whether an explicit Deny in the bucket policy refuses a PutObject of ``key``."""
    import fnmatch

    arn = f"arn:aws:s3:::assets/{key}"
    for statement in statements:
        if statement["Effect"] != "Deny" or "Condition" in statement:
            continue
        patterns = []
        for pattern in statement["NotResource"]:
            if "${aws:PrincipalTag/videojobs-tenant}" in pattern:
                if tenant_tag is None:
                    continue  # an absent tag matches nothing
                pattern = pattern.replace("${aws:PrincipalTag/videojobs-tenant}", tenant_tag)
            patterns.append(pattern)
        if not any(fnmatch.fnmatchcase(arn, p) for p in patterns):
            return True
    return False


def test_intake_writers_are_tied_to_their_tenant_folder_only_when_asked() -> None:
    # By default the bucket policy only insists on TLS
    assert [s["Sid"] for s in _bucket_policy("false")] == ["TlsOnly"]
    # With IntakeWritersRequireTenantTag, a writer tagged videojobs-tenant=acme...
    statements = _bucket_policy("true")
    assert [s["Sid"] for s in statements] == ["TlsOnly", "IntakeWritersOwnTenantFolder"]
    # ...may put files under its own folder, and the stack keeps writing its own prefixes
    assert not _put_denied(statements, "intake/acme/spring/shots.jsonl", "acme")
    for key in ("videos/acme/v/video.mp4", "inputs/acme/v/reference.png", "results/acme/x"):
        assert not _put_denied(statements, key, None)
    # ...but not under another tenant's, and an untagged writer not under intake/ at all
    assert _put_denied(statements, "intake/beta/shots.jsonl", "acme")
    assert _put_denied(statements, "intake/acmecorp/shots.jsonl", "acme")
    assert _put_denied(statements, "intake/acme/shots.jsonl", None)


def test_deleted_jobs_are_purged_by_the_jobs_table_ttl_after_the_retention_parameter() -> None:
    from videojobs.adapters.dal.jobs import PURGE_AT

    table = RESOURCES["JobsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": PURGE_AT, "Enabled": True}
    parameter = TEMPLATE["Parameters"]["DeletedJobRetentionDays"]
    assert (parameter["Default"], parameter["MinValue"]) == (30, 1)
    environment = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["DELETED_JOB_RETENTION_DAYS"] == {"Ref": "DeletedJobRetentionDays"}


def _function_variables() -> dict[str, set[str]]:
    """The environment variable names template.yaml gives each function (Globals included)."""
    shared = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    return {
        name: shared | set((spec["Properties"].get("Environment") or {}).get("Variables") or {})
        for name, spec in FUNCTIONS.items()
    }


def test_the_template_declares_no_setting_only_the_local_stack_uses() -> None:
    # The local stack adds these to its functions' environment itself (local.start_local):
    # declared here, a deployment could turn them on.
    local_only = {"VIDEOJOBS_LOCAL_MODE", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"}
    parameters = TEMPLATE["Parameters"]

    assert {name: names & local_only for name, names in _function_variables().items()} == {
        name: set() for name in FUNCTIONS
    }
    assert [name for name in parameters if "local" in name.lower()] == []
    assert [
        name
        for name, spec in parameters.items()
        if re.search(r"local stack|emulator|127\.0\.0\.1|localhost", str(spec), re.IGNORECASE)
    ] == []


def test_every_function_is_given_every_setting_that_names_a_resource() -> None:
    # None of them has a default (videojobs.settings): a function without one fails at first use.
    from videojobs.settings import Settings

    named = {
        value.variable
        for value in vars(Settings).values()
        if type(value).__name__ == "_ResourceName"
    }
    # Set for the operator's tools only: a function decrypts with the key the ciphertext names.
    named.discard("CALLBACK_SECRET_KEY_ID")

    assert len(named) == 13
    assert {name: named - names for name, names in _function_variables().items()} == {
        name: set() for name in FUNCTIONS
    }


def _snake(state: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", state).lower()


def _lambda_tasks() -> dict[str, str]:
    """ASL Lambda task state -> the template function it invokes."""
    substitutions = MACHINE["DefinitionSubstitutions"]
    tasks = {}
    for name, state in json.loads(PLACEHOLDER.sub("7", ASL_TEXT))["States"].items():
        if state.get("Type") != "Task" or ":lambda:" not in state["Resource"]:
            continue
        placeholder = PLACEHOLDER.search(ASL_TEXT[ASL_TEXT.index(f'"{name}": {{') :])
        assert placeholder is not None and placeholder.group(1).endswith("FunctionArn"), name
        tasks[name] = substitutions[placeholder.group(1)]["Fn::GetAtt"][0]
    return tasks


def test_each_workflow_step_keeps_its_asl_state_name_in_handler_and_logic() -> None:
    # Given the Lambda task states of the job state machine and the functions they invoke
    tasks = _lambda_tasks()
    assert len(tasks) == 7, tasks
    logic = [
        importlib.import_module(f"videojobs.logic.{path.stem}")
        for path in (ROOT / "functions/videojobs/logic").glob("*.py")
    ]
    for state, function in tasks.items():
        served = {_snake(s) for s, f in tasks.items() if f == function}
        handler = FUNCTIONS[function]["Properties"]["Handler"].rpartition(".")[2]
        # Then the handler is named after the state (a function serving two states, after one)
        assert handler in served, (state, function, handler)
        # ... and a logic function carries the state's name
        assert any(callable(getattr(module, _snake(state), None)) for module in logic), state
