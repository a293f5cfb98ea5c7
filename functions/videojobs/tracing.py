"""Powertools Tracer, for the handlers whose time goes to calls worth seeing one by one.

The workflow steps (provider requests, S3 streaming, DynamoDB) and the callbacks function
(callback POSTs) import this; the other handlers do not, to keep their cold starts short
(figures in docs/performance.md). Creating the tracer patches botocore and httpx, so every
AWS call and HTTP request becomes an X-Ray subsegment; only those two: patching everything
the X-Ray SDK knows would import asyncio, sqlite3 and more at every cold start. Outside Lambda
the tracer is disabled and patches nothing.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer

tracer = Tracer(patch_modules=("botocore", "httpx"))


def annotate(job_id: str | None = None, correlation_id: str | None = None) -> None:
    """Make the current trace searchable by job and by correlation id."""
    if job_id:
        tracer.put_annotation(key="job_id", value=job_id)
    if correlation_id:
        tracer.put_annotation(key="correlation_id", value=correlation_id)
