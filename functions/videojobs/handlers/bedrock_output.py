"""The assets bucket's "Object Created" events for Bedrock output: a finished video wakes its job.

Bedrock writes ``bedrock/<job id>/<invocation id>/output.mp4`` when a generation completes;
the rule in template.yaml sends only those keys here. No polling, no webhook secret: the event
comes from S3 through EventBridge, and the key must name the invocation the job recorded.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.logic.apply_provider_status import apply_bedrock_output
from videojobs.observability import logger, metrics
from videojobs.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    bucket = str((detail.get("bucket") or {}).get("name") or "")
    key = str((detail.get("object") or {}).get("key") or "")
    if event.get("source") != "aws.s3" or bucket != get_settings().bucket or not key:
        logger.info("event ignored: not an object of the assets bucket")
        return {"status": "ignored"}
    outcome = apply_bedrock_output(key)
    logger.info("bedrock output", extra={"key": key, "outcome": outcome})
    return {"status": outcome}
