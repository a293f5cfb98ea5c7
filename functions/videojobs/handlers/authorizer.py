"""API Gateway REQUEST authorizer: an API key (Bearer or x-api-key) -> its tenant."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.adapters.dal import api_keys
from videojobs.observability import logger


def _presented_key(headers: dict[str, str]) -> str | None:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    auth = lowered.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    api_key = lowered.get("x-api-key")
    if bearer and api_key and api_key != bearer:
        # Two different keys: which one the caller meant is unknown, so neither is used (a
        # bad key is never ignored because a good one came beside it).
        return None
    if auth[:7].lower() == "bearer ":
        return bearer or None
    return api_key or None


def _api_wide(method_arn: str) -> str:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path -> every method and path of
    # the stage, so that API Gateway can cache one decision per key across routes.
    prefix, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{prefix}/{stage}/*/*"


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = _presented_key(event.get("headers") or {})
    record = api_keys.lookup(key) if key else None
    if record is None:
        # The exact message "Unauthorized" makes API Gateway answer 401 (not 403).
        raise Exception("Unauthorized")
    logger.info("authorized", extra={"tenant_id": record.tenant_id, "key_id": record.key_id})
    return {
        "principalId": record.key_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": _api_wide(event["methodArn"]),
                }
            ],
        },
        "context": {"tenant_id": record.tenant_id, "key_id": record.key_id},
    }
