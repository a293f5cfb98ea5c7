"""A local API Gateway (REST, Lambda proxy) in front of a template's Api routes.

Requests are served both at ``/<Stage>/<path>`` (the shape of a real invoke URL, and what
`ApiFront.url` returns) and at ``/<path>``. Events are REST API (payload v1) Lambda proxy
events; REQUEST Lambda authorizers run before protected routes and their policies are
evaluated against the method ARN. Authorizer results are not cached (template.yaml sets
`ReauthorizeEvery: 0`). The
stage's `MethodSettings` throttling is applied per method, before the authorizer, as API
Gateway does; the account-level limits are not.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from .lambda_dispatch import LambdaDispatcher
from .provision import ApiRoute, ApiSpec, Authorizer, Stack

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
# API Gateway's integration timeout for a REST API (the default and, for Lambda, the usual cap).
INTEGRATION_TIMEOUT_SECONDS = 29.0


@dataclass(frozen=True)
class _CompiledRoute:
    route: ApiRoute
    segments: tuple[str, ...]

    @property
    def rank(self) -> tuple[int, ...]:
        # A literal segment beats a {param}, decided at the first segment that differs.
        return tuple(1 if segment.startswith("{") else 0 for segment in self.segments)

    def match(self, parts: tuple[str, ...]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        parameters: dict[str, str] = {}
        for segment, part in zip(self.segments, parts, strict=True):
            if segment.startswith("{"):
                parameters[segment[1:-1]] = part
            elif segment != part:
                return None
        return parameters


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.strip("/").split("/") if part)


@dataclass(frozen=True)
class _GatewayResponse:
    """A response API Gateway produces itself, by its gateway response type."""

    type: str
    status: int
    message: str | None
    error_type: str
    message_key: str = "message"


UNAUTHORIZED = _GatewayResponse("UNAUTHORIZED", 401, "Unauthorized", "UnauthorizedException")
EXPLICIT_DENY = _GatewayResponse(
    "ACCESS_DENIED",
    403,
    "User is not authorized to access this resource with an explicit deny",
    "AccessDeniedException",
    "Message",
)
NOT_ALLOWED = _GatewayResponse(
    "ACCESS_DENIED",
    403,
    "User is not authorized to access this resource",
    "AccessDeniedException",
    "Message",
)
MISSING_TOKEN = _GatewayResponse(
    "MISSING_AUTHENTICATION_TOKEN",
    403,
    "Missing Authentication Token",
    "MissingAuthenticationTokenException",
)
AUTHORIZER_FAILURE = _GatewayResponse(
    "AUTHORIZER_FAILURE", 500, None, "AuthorizerConfigurationException"
)
AUTHORIZER_CONFIGURATION = _GatewayResponse(
    "AUTHORIZER_CONFIGURATION_ERROR", 500, None, "AuthorizerConfigurationException"
)
TOO_LARGE = _GatewayResponse(
    "REQUEST_TOO_LARGE", 413, "Request Too Long", "RequestTooLongException"
)
THROTTLED = _GatewayResponse("THROTTLED", 429, "Too Many Requests", "TooManyRequestsException")
INTERNAL_ERROR = _GatewayResponse(
    "DEFAULT_5XX", 502, "Internal server error", "InternalServerErrorException"
)
INTEGRATION_TIMEOUT = _GatewayResponse(
    "INTEGRATION_TIMEOUT", 504, "Endpoint request timed out", "InternalServerErrorException"
)


# API Gateway's account-level defaults, for a MethodSettings entry that sets only one limit.
_ACCOUNT_RATE_LIMIT = 10_000.0
_ACCOUNT_BURST_LIMIT = 5_000.0


class _MethodThrottle:
    """Stage and method throttling as API Gateway applies it: every method (resource path and
    HTTP method) has its own token bucket, holding `ThrottlingBurstLimit` requests and
    refilled at `ThrottlingRateLimit` a second, from the most specific `MethodSettings` entry
    that names it (`/*` and `*` name every resource and method)."""

    def __init__(self, method_settings: Iterable[dict[str, Any]]) -> None:
        self._limits: dict[tuple[str, str], tuple[float, float]] = {}
        for entry in method_settings:
            if "ThrottlingRateLimit" not in entry and "ThrottlingBurstLimit" not in entry:
                continue
            resource = str(entry.get("ResourcePath", "/*"))
            if resource != "/*":
                resource = "/" + resource.lstrip("/").replace("~1", "/").lstrip("/")
            method = str(entry.get("HttpMethod", "*")).upper()
            self._limits[(resource, method)] = (
                float(entry.get("ThrottlingRateLimit", _ACCOUNT_RATE_LIMIT)),
                float(entry.get("ThrottlingBurstLimit", _ACCOUNT_BURST_LIMIT)),
            )
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _limits_of(self, path: str, method: str) -> tuple[float, float] | None:
        for key in ((path, method), (path, "*"), ("/*", method), ("/*", "*")):
            if key in self._limits:
                return self._limits[key]
        return None

    def admit(self, route: ApiRoute) -> bool:
        """Take a token from the route's bucket; False when it is empty (a 429)."""
        method = route.method.upper()
        limits = self._limits_of(route.path, method)
        if limits is None:
            return True
        rate, burst = limits
        key = (route.path, method)
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1, now)
            return True


def _media_type_matches(content_type: str | None, patterns: Iterable[str]) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in patterns)


def _resource_matches(pattern: str, arn: str) -> bool:
    return fnmatch.fnmatchcase(arn, pattern)


def _action_allows(action: Any) -> bool:
    actions = action if isinstance(action, list) else [action]
    return any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions)


class _AuthorizationFailure(Exception):
    def __init__(self, response: _GatewayResponse) -> None:
        super().__init__(response.type)
        self.response = response


class ApiFront:
    """A threaded WSGI server answering like API Gateway for one Serverless Api."""

    def __init__(
        self,
        api: ApiSpec,
        stack: Stack,
        dispatcher: LambdaDispatcher,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
    ) -> None:
        self.api = api
        self.integration_timeout = integration_timeout
        # Integrations run here so that a request can be answered 504 at the integration
        # timeout while its function runs on, as it does behind API Gateway.
        self._integrations = ThreadPoolExecutor(max_workers=32, thread_name_prefix="apigw-call")
        self.stack = stack
        self.dispatcher = dispatcher
        self.host = host
        self.port = port
        self._routes = sorted(
            (_CompiledRoute(route, _segments(route.path)) for route in api.routes),
            key=lambda compiled: compiled.rank,
        )
        self._throttle = _MethodThrottle(api.method_settings)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> None:
        self._server = make_server(self.host, self.port, self, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps shutdown (and so every test teardown) quick.
            kwargs={"poll_interval": 0.05},
            name=f"apigw-{self.api.logical_id}",
            daemon=True,
        )
        self._thread.start()
        logger.info("API %s listening on %s", self.api.logical_id, self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._integrations.shutdown(wait=False)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The invoke URL, stage included, without a trailing slash."""
        return f"{self.base_url}/{self.api.stage_name}"

    # -- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        started = time.time()
        path = self._strip_stage(request.path)
        found = self._find_route(path, request.method)
        if found is None:
            return self._gateway_response(MISSING_TOKEN, request_id)
        route, path_parameters = found
        if not self._throttle.admit(route):
            return self._gateway_response(THROTTLED, request_id)
        length = request.content_length
        if length is not None and length > MAX_REQUEST_BYTES:
            return self._gateway_response(TOO_LARGE, request_id)
        body = request.stream.read(MAX_REQUEST_BYTES + 1)
        if len(body) > MAX_REQUEST_BYTES:
            return self._gateway_response(TOO_LARGE, request_id)
        context = self._request_context(request, route, path, request_id, started)
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            try:
                authorizer_context = self._authorize(request, route, path, path_parameters, context)
            except _AuthorizationFailure as failure:
                return self._gateway_response(failure.response, request_id)
        if authorizer_context is not None:
            context["authorizer"] = authorizer_context
        event = self._proxy_event(request, route, path, path_parameters, body, context)
        encoded = json.dumps(event).encode()
        if len(encoded) > MAX_LAMBDA_PAYLOAD_BYTES:
            return self._gateway_response(TOO_LARGE, request_id)
        call = self._integrations.submit(
            self.dispatcher.invoke, self._function_name(route.function_logical_id), encoded
        )
        try:
            result = call.result(timeout=self.integration_timeout)
        except FutureTimeout:
            logger.error(
                "%s %s: %s did not answer within the %ss integration timeout",
                request.method,
                path,
                route.function_logical_id,
                self.integration_timeout,
            )
            return self._gateway_response(INTEGRATION_TIMEOUT, request_id)
        if result.function_error:
            logger.error(
                "%s %s: %s failed: %s",
                request.method,
                path,
                route.function_logical_id,
                result.payload.decode(errors="replace")[:4000],
            )
            return self._internal_error(request_id)
        if len(result.payload) > MAX_LAMBDA_PAYLOAD_BYTES:
            logger.error("%s returned more than 6 MB", route.function_logical_id)
            return self._internal_error(request_id)
        return self._proxy_response(request, result.json(), request_id, route)

    # -- routing

    def _strip_stage(self, path: str) -> str:
        stage = f"/{self.api.stage_name}"
        if path == stage or path.startswith(stage + "/"):
            path = path[len(stage) :]
        return path if path.startswith("/") else "/" + path

    def _find_route(self, path: str, method: str) -> tuple[ApiRoute, dict[str, str]] | None:
        parts = _segments(path)
        for compiled in self._routes:
            parameters = compiled.match(parts)
            if parameters is None:
                continue
            # The most specific resource wins; its methods decide, no falling back to another
            # resource. On that resource an explicit method wins over ANY, which takes every
            # method the resource does not declare (as x-amazon-apigateway-any-method does).
            methods = {
                other.route.method: other.route
                for other in self._routes
                if other.route.path == compiled.route.path
            }
            found = methods.get(method.upper()) or methods.get("ANY")
            return (found, parameters) if found is not None else None
        return None

    def _function_name(self, logical_id: str) -> str:
        return self.stack.functions[logical_id].name

    # -- events

    def _method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:{self.stack.template.pseudo.partition}:execute-api:{self.stack.region}:"
            f"{self.stack.account_id}:{self.api.rest_api_id}/{self.api.stage_name}/"
            f"{method.upper()}/{path.lstrip('/')}"
        )

    def _request_context(
        self, request: Request, route: ApiRoute, path: str, request_id: str, started: float
    ) -> dict[str, Any]:
        host = request.host
        return {
            "resourceId": hashlib.sha256(route.path.encode()).hexdigest()[:6],
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes)[:16].decode(),
            "requestTime": datetime.datetime.fromtimestamp(started, tz=datetime.UTC).strftime(
                "%d/%b/%Y:%H:%M:%S +0000"
            ),
            "path": f"/{self.api.stage_name}{path}",
            "accountId": self.stack.account_id,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": self.api.stage_name,
            "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
            "requestTimeEpoch": int(started * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.remote_addr or "127.0.0.1",
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": request.headers.get("User-Agent"),
                "user": None,
            },
            "domainName": host,
            "apiId": self.api.rest_api_id,
        }

    def _headers(self, request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            multi.setdefault(name, []).append(value)
        forwarded = {
            "X-Forwarded-For": request.remote_addr or "127.0.0.1",
            "X-Forwarded-Port": str(self.port),
            "X-Forwarded-Proto": request.scheme,
            "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
        }
        for name, value in forwarded.items():
            multi.setdefault(name, [value])
        return {name: values[-1] for name, values in multi.items()}, multi

    @staticmethod
    def _query(request: Request) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
        if not request.args:
            return None, None
        multi = {key: request.args.getlist(key) for key in request.args}
        return {key: values[-1] for key, values in multi.items()}, multi

    def _proxy_event(
        self,
        request: Request,
        route: ApiRoute,
        path: str,
        path_parameters: dict[str, str],
        body: bytes,
        context: dict[str, Any],
    ) -> dict[str, Any]:
        headers, multi_headers = self._headers(request)
        query, multi_query = self._query(request)
        is_binary = _media_type_matches(request.content_type, self.api.binary_media_types)
        if not body:
            event_body: str | None = None
        elif is_binary:
            event_body = base64.b64encode(body).decode()
        else:
            event_body = body.decode("utf-8", errors="replace")
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": context,
            "body": event_body,
            "isBase64Encoded": bool(body) and is_binary,
        }

    # -- authorizers

    def _authorize(
        self,
        request: Request,
        route: ApiRoute,
        path: str,
        path_parameters: dict[str, str],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        authorizer = self.api.authorizers.get(route.authorizer or "")
        if authorizer is None:
            logger.error(
                "route %s %s names unknown authorizer %s",
                route.method,
                route.path,
                route.authorizer,
            )
            raise _AuthorizationFailure(AUTHORIZER_CONFIGURATION)
        method_arn = self._method_arn(request.method, path)
        event = self._authorizer_event(request, route, path, path_parameters, context, method_arn)
        function = self.dispatcher.lookup(authorizer.function_arn)
        if function is None:
            logger.error(
                "authorizer %s points at unknown function %s",
                authorizer.name,
                authorizer.function_arn,
            )
            raise _AuthorizationFailure(AUTHORIZER_CONFIGURATION)
        started = time.time()
        result = self.dispatcher.invoke(function.name, json.dumps(event))
        latency = int((time.time() - started) * 1000)
        if result.function_error:
            payload = result.json()
            if isinstance(payload, dict) and payload.get("errorMessage") == "Unauthorized":
                raise _AuthorizationFailure(UNAUTHORIZED)
            logger.error(
                "authorizer %s failed: %s",
                authorizer.name,
                result.payload[:4000].decode(errors="replace"),
            )
            raise _AuthorizationFailure(AUTHORIZER_FAILURE)
        return self._evaluate_policy(authorizer, result.json(), method_arn, latency)

    def _authorizer_event(
        self,
        request: Request,
        route: ApiRoute,
        path: str,
        path_parameters: dict[str, str],
        context: dict[str, Any],
        method_arn: str,
    ) -> dict[str, Any]:
        headers, multi_headers = self._headers(request)
        query, multi_query = self._query(request)
        return {
            "type": "REQUEST",
            "methodArn": method_arn,
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or {},
            "multiValueQueryStringParameters": multi_query or {},
            "pathParameters": path_parameters,
            "stageVariables": {},
            "requestContext": context,
        }

    @staticmethod
    def _evaluate_policy(
        authorizer: Authorizer, response: Any, method_arn: str, latency: int
    ) -> dict[str, Any]:
        invalid = _AuthorizationFailure(AUTHORIZER_CONFIGURATION)
        if not isinstance(response, dict) or "principalId" not in response:
            logger.error("authorizer %s returned no principalId", authorizer.name)
            raise invalid
        document = response.get("policyDocument") or {}
        statements = document.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        allowed = False
        for statement in statements:
            if not _action_allows(statement.get("Action")):
                continue
            resources = statement.get("Resource") or []
            if isinstance(resources, str):
                resources = [resources]
            if not any(_resource_matches(str(r), method_arn) for r in resources):
                continue
            if str(statement.get("Effect", "")).lower() == "deny":
                raise _AuthorizationFailure(EXPLICIT_DENY)
            if str(statement.get("Effect", "")).lower() == "allow":
                allowed = True
        if not allowed:
            raise _AuthorizationFailure(NOT_ALLOWED)
        context: dict[str, Any] = {}
        for key, value in (response.get("context") or {}).items():
            if isinstance(value, dict | list):
                logger.error("authorizer %s context %s is not a primitive", authorizer.name, key)
                raise invalid
            # API Gateway hands every context value on as a string.
            context[key] = (
                ("true" if value else "false")
                if isinstance(value, bool)
                else None
                if value is None
                else str(value)
            )
        context["principalId"] = str(response["principalId"])
        context["integrationLatency"] = latency
        return context

    # -- responses

    def _internal_error(self, request_id: str) -> Response:
        return self._gateway_response(INTERNAL_ERROR, request_id)

    def _gateway_response(self, response: _GatewayResponse, request_id: str) -> Response:
        """The default answer, or the Api's `GatewayResponses` customisation of it."""
        family = "DEFAULT_4XX" if response.status < 500 else "DEFAULT_5XX"
        custom = (
            self.api.gateway_responses.get(response.type)
            or self.api.gateway_responses.get(family)
            or {}
        )
        status = int(custom.get("StatusCode") or response.status)
        template = (custom.get("ResponseTemplates") or {}).get("application/json")
        if template is None:
            body = json.dumps({response.message_key: response.message})
        else:
            body = (
                str(template)
                .replace("$context.error.messageString", json.dumps(response.message))
                .replace("$context.error.message", response.message or "")
                .replace("$context.requestId", request_id)
            )
        http_response = Response(body, status=status, mimetype="application/json")
        for name, value in ((custom.get("ResponseParameters") or {}).get("Headers") or {}).items():
            # Only static values ('quoted') can be honoured without a request mapping.
            http_response.headers[str(name)] = str(value).strip("'")
        http_response.headers["x-amzn-RequestId"] = request_id
        http_response.headers["x-amzn-ErrorType"] = response.error_type
        return http_response

    def _proxy_response(
        self, request: Request, result: Any, request_id: str, route: ApiRoute
    ) -> Response:
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int | str):
            logger.error(
                "%s returned a malformed proxy response: %r", route.function_logical_id, result
            )
            return self._internal_error(request_id)
        try:
            status = int(result["statusCode"])
        except ValueError:
            return self._internal_error(request_id)
        body = result.get("body")
        if body is not None and not isinstance(body, str):
            logger.error("%s returned a non-string body", route.function_logical_id)
            return self._internal_error(request_id)
        headers = Headers()
        for name, value in (result.get("headers") or {}).items():
            headers.set(str(name), str(value))
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if str(name) in headers and (result.get("headers") or {}).get(name) is not None:
                headers.remove(str(name))
            for value in values or []:
                headers.add(str(name), str(value))
        if "Content-Type" not in headers:
            headers.set("Content-Type", "application/json")
        payload: bytes = (body or "").encode()
        if result.get("isBase64Encoded") and body:
            binary_types = self.api.binary_media_types
            if _media_type_matches(
                headers.get("Content-Type"), binary_types
            ) or _media_type_matches(request.headers.get("Accept"), binary_types):
                payload = base64.b64decode(body)
        headers.set("x-amzn-RequestId", request_id)
        headers.set("x-amz-apigw-id", base64.b64encode(uuid.uuid4().bytes)[:16].decode())
        return Response(payload, status=status, headers=headers)
