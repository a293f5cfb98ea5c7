"""The local API Gateway front: routing, proxy events, authorizers and error mapping."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from videojobs_local.stack import LocalStack

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: live
      BinaryMediaTypes: ["multipart~1form-data", "image~1png"]
      Auth:
        DefaultAuthorizer: Keys
        Authorizers:
          Keys:
            FunctionArn: !GetAtt Authorizer.Arn
            FunctionPayloadType: REQUEST
            Identity: {ReauthorizeEvery: 0}
  Branded:
    Type: AWS::Serverless::Api
    Properties:
      StageName: branded
      Auth:
        DefaultAuthorizer: Keys
        Authorizers:
          Keys:
            FunctionArn: !GetAtt Authorizer.Arn
            FunctionPayloadType: REQUEST
            Identity: {ReauthorizeEvery: 0}
      GatewayResponses:
        UNAUTHORIZED:
          StatusCode: "401"
          ResponseParameters:
            Headers: {WWW-Authenticate: "'Bearer'"}
          ResponseTemplates:
            application/json: '{"error": {"message": $context.error.messageString}}'
        DEFAULT_4XX:
          ResponseTemplates:
            application/json: '{"error": {"code": "not_found", "id": "$context.requestId"}}'
  Authorizer:
    Type: AWS::Serverless::Function
    Properties: {Handler: stack_fixtures.handlers.authorizer}
  Videos:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.api
      Events:
        Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/v1/videos/{id}", Method: get}}
        Special:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /v1/videos/special, Method: get}
        Health:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /health
            Method: get
            Auth: {Authorizer: NONE}
        Upload:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /upload
            Method: post
            Auth: {Authorizer: NONE}
        Implicit: {Type: Api, Properties: {Path: /implicit, Method: get}}
        BrandedGet:
          Type: Api
          Properties: {RestApiId: !Ref Branded, Path: /things, Method: get}
  Create:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.api_created
      Events:
        Post: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /v1/videos, Method: post}}
        UploadOther:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /upload
            Method: any
            Auth: {Authorizer: NONE}
  Content:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.api_binary
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/v1/videos/{id}/content", Method: get}
  Crash:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.api_crash
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /crash, Method: get, Auth: {Authorizer: NONE}}
  Malformed:
    Type: AWS::Serverless::Function
    Properties:
      Handler: stack_fixtures.handlers.api_malformed
      Events:
        Get:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /malformed
            Method: get
            Auth: {Authorizer: NONE}
"""

GOOD = {"Authorization": "Bearer good"}


@pytest.fixture(scope="module")
def local(fx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    path = tmp_path_factory.mktemp("apigw") / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    with LocalStack(path, stack_name="apigw") as stack:
        yield stack


@pytest.fixture(scope="module")
def http(local: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local.api_url, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def clean(fx: ModuleType) -> None:
    fx.reset()


def test_api_url_includes_the_stage(local: LocalStack) -> None:
    assert local.api_url.endswith("/live")
    assert local.api_urls["Api"] == local.api_url
    assert local.api_urls["Branded"].endswith("/branded")
    assert local.api_urls["ServerlessRestApi"].endswith("/Prod")


def test_proxy_event_is_faithful(local: LocalStack, http: httpx.Client, fx: ModuleType) -> None:
    response = http.get(
        "/v1/videos/vid_1?variant=video&tag=a&tag=b", headers={**GOOD, "X-Custom": "1"}
    )

    assert response.status_code == 200
    (event,) = fx.records("api")
    assert event["resource"] == "/v1/videos/{id}"
    assert event["path"] == "/v1/videos/vid_1"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "vid_1"}
    assert event["queryStringParameters"] == {"variant": "video", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"variant": ["video"], "tag": ["a", "b"]}
    assert event["headers"]["X-Custom"] == "1"
    assert event["multiValueHeaders"]["X-Custom"] == ["1"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    context = event["requestContext"]
    api = local.stack.apis["Api"]
    assert context["stage"] == "live"
    assert context["path"] == "/live/v1/videos/vid_1"
    assert context["resourcePath"] == "/v1/videos/{id}"
    assert context["apiId"] == api.rest_api_id
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"] == response.headers["x-amzn-RequestId"]
    assert context["authorizer"]["principalId"] == "tenant-1"
    # API Gateway hands authorizer context values on as strings
    assert context["authorizer"]["tenant_id"] == "t-1"
    assert context["authorizer"]["limit"] == "5"
    assert context["authorizer"]["admin"] == "false"


def test_proxy_response_maps_back_to_http(http: httpx.Client) -> None:
    response = http.get("/v1/videos/vid_2", headers=GOOD)

    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-handler"] == "api"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.json()["pathParameters"] == {"id": "vid_2"}


def test_paths_without_the_stage_prefix_are_served_too(local: LocalStack, fx: ModuleType) -> None:
    base = local.api_url.removesuffix("/live")
    response = httpx.get(f"{base}/v1/videos/vid_3", headers=GOOD)
    assert response.status_code == 200
    assert fx.records("api")[0]["path"] == "/v1/videos/vid_3"


def test_literal_segments_win_over_parameters(http: httpx.Client) -> None:
    body = http.get("/v1/videos/special", headers=GOOD).json()
    assert body["resource"] == "/v1/videos/special"
    assert body["pathParameters"] is None


def test_post_with_json_body_and_status(http: httpx.Client, fx: ModuleType) -> None:
    response = http.post("/v1/videos", json={"prompt": "a cat"}, headers=GOOD)

    assert response.status_code == 201
    assert response.json() == {"created": True}
    (event,) = fx.records("api_created")
    assert json.loads(event["body"]) == {"prompt": "a cat"}
    assert event["isBase64Encoded"] is False


def test_binary_media_types_are_base64_encoded(http: httpx.Client, fx: ModuleType) -> None:
    response = http.post(
        "/upload", files={"input_reference": ("ref.png", b"\x89PNG\x00\xff", "image/png")}
    )

    assert response.status_code == 200
    (event,) = fx.records("api")
    assert event["isBase64Encoded"] is True
    assert event["headers"]["Content-Type"].startswith("multipart/form-data")
    assert b"\x89PNG\x00\xff" in base64.b64decode(event["body"])


def test_binary_responses_are_decoded(http: httpx.Client) -> None:
    response = http.get("/v1/videos/vid_1/content", headers={**GOOD, "Accept": "image/png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == b"\x89PNG\r\n\x1a\nrest"


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({}, 401, {"message": "Unauthorized"}),
        ({"Authorization": "Bearer wrong"}, 401, {"message": "Unauthorized"}),
        (
            {"Authorization": "Bearer deny"},
            403,
            {"Message": "User is not authorized to access this resource with an explicit deny"},
        ),
        (
            {"Authorization": "Bearer elsewhere"},
            403,
            {"Message": "User is not authorized to access this resource"},
        ),
    ],
)
def test_authorizer_outcomes(
    http: httpx.Client,
    fx: ModuleType,
    headers: dict[str, str],
    status: int,
    body: dict[str, Any],
) -> None:
    response = http.get("/v1/videos/vid_1", headers=headers)

    assert response.status_code == status
    assert response.json() == body
    assert fx.records("api") == []
    assert len(fx.records("authorizer")) == 1


def test_authorizer_receives_a_request_event(
    local: LocalStack, http: httpx.Client, fx: ModuleType
) -> None:
    http.get("/v1/videos/vid_9?x=1", headers=GOOD)

    (event,) = fx.records("authorizer")
    api = local.stack.apis["Api"]
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == (
        f"arn:aws:execute-api:us-east-1:123456789012:{api.rest_api_id}/live/GET/v1/videos/vid_9"
    )
    assert event["resource"] == "/v1/videos/{id}"
    assert event["headers"]["Authorization"] == "Bearer good"
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["pathParameters"] == {"id": "vid_9"}


def test_unprotected_route_skips_the_authorizer(http: httpx.Client, fx: ModuleType) -> None:
    assert http.get("/health").status_code == 200
    assert fx.records("authorizer") == []
    assert fx.records("api")[0]["requestContext"].get("authorizer") is None


def test_implicit_api_is_served_on_its_own_port(local: LocalStack, fx: ModuleType) -> None:
    response = httpx.get(f"{local.api_urls['ServerlessRestApi']}/implicit")
    assert response.status_code == 200
    assert fx.records("api")[0]["requestContext"]["stage"] == "Prod"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("POST", "/health"), ("GET", "/v1/videos/a/b/c")],
)
def test_unknown_routes_are_missing_authentication_token(
    http: httpx.Client, method: str, path: str
) -> None:
    response = http.request(method, path, headers=GOOD)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_any_takes_the_methods_a_resource_does_not_declare(
    http: httpx.Client, fx: ModuleType, method: str
) -> None:
    # Given /upload with an explicit POST (Videos) and ANY (Create)
    # When another method arrives, ANY's function gets it, with the real method and resource
    response = http.request(method, "/upload")

    assert response.status_code == 201
    (event,) = fx.records("api_created")
    assert (event["httpMethod"], event["resource"]) == (method, "/upload")
    assert event["requestContext"]["httpMethod"] == method


def test_an_explicit_method_wins_over_any(http: httpx.Client, fx: ModuleType) -> None:
    response = http.post("/upload", content=b"x")

    assert response.status_code == 200
    assert fx.records("api_created") == []
    assert fx.records("api")[0]["httpMethod"] == "POST"


@pytest.mark.parametrize("path", ["/crash", "/malformed"])
def test_handler_failures_are_internal_server_errors(
    http: httpx.Client, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = http.get(path)
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    assert response.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    assert "handler bug" in caplog.text or "malformed" in caplog.text


def test_oversized_bodies_are_rejected(http: httpx.Client, fx: ModuleType) -> None:
    response = http.post("/upload", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert fx.records("api") == []


def test_gateway_responses_customise_gateway_errors(local: LocalStack, fx: ModuleType) -> None:
    base = local.api_urls["Branded"]

    # No identity sources: the authorizer always runs, and its Unauthorized is rebranded
    unauthorized = httpx.get(f"{base}/things")
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"error": {"message": "Unauthorized"}}
    assert unauthorized.headers["WWW-Authenticate"] == "Bearer"
    assert len(fx.records("authorizer")) == 1

    # Other 4XX responses fall back to DEFAULT_4XX, keeping their own status
    missing = httpx.get(f"{base}/nowhere")
    assert missing.status_code == 403
    assert missing.json() == {
        "error": {"code": "not_found", "id": missing.headers["x-amzn-RequestId"]}
    }

    assert httpx.get(f"{base}/things", headers=GOOD).status_code == 200


def test_method_settings_throttle_each_method_by_its_most_specific_entry() -> None:
    from videojobs_local.stack.apigw import _MethodThrottle
    from videojobs_local.stack.provision import ApiRoute

    # Given a stage-wide limit of a burst of 2, and one method allowed a burst of 4
    throttle = _MethodThrottle(
        [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": "0.001",
                "ThrottlingBurstLimit": "2",
            },
            {
                "ResourcePath": "/~1v1~1videos",
                "HttpMethod": "POST",
                "ThrottlingRateLimit": 0.001,
                "ThrottlingBurstLimit": 4,
            },
        ]
    )

    def route(path: str, method: str) -> ApiRoute:
        return ApiRoute(path, method, "Fn", "Event", None)

    # When each method is called 6 times at once
    admitted = {
        (path, method): sum(throttle.admit(route(path, method)) for _ in range(6))
        for path, method in [
            ("/v1/videos", "POST"),
            ("/v1/videos", "GET"),
            ("/v1/videos/{id}", "GET"),
        ]
    }
    # Then each got its own burst: the named method 4, every other method 2
    assert admitted == {
        ("/v1/videos", "POST"): 4,
        ("/v1/videos", "GET"): 2,
        ("/v1/videos/{id}", "GET"): 2,
    }
