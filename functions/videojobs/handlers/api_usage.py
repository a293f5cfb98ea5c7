"""``GET /v1/usage?start=YYYY-MM-DD&end=YYYY-MM-DD``: the caller's usage and budgets."""

from __future__ import annotations

import datetime
import re

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from videojobs.handlers.api_common import json_response, tenant_id
from videojobs.logic.usage import usage_report
from videojobs.models.errors import InvalidRequestError
from videojobs.models.usage import UsageQuery

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(name: str, value: str) -> datetime.date:
    # Only the calendar form: a timestamp or a datetime would hide a timezone question.
    try:
        if not _DAY.match(value):
            raise ValueError(value)
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(
            f"{name} must be a day as YYYY-MM-DD (UTC), got '{value[:40]}'.",
            param=name,
            code="invalid_value",
        ) from None


def usage_query(event: APIGatewayProxyEvent) -> UsageQuery:
    """The query string as a :class:`UsageQuery`; anything else is a 400."""
    for name, values in (event.multi_value_query_string_parameters or {}).items():
        if len(values or []) > 1:
            raise InvalidRequestError(
                f"Query parameter '{name[:64]}' was given more than once.",
                param=name[:64],
                code="invalid_value",
            )
    params = dict(event.query_string_parameters or {})
    for name in params:
        if name not in UsageQuery.model_fields:
            raise InvalidRequestError(
                f"Unrecognized query parameter: '{name[:64]}'.",
                param=name[:64],
                code="unknown_parameter",
            )
    return UsageQuery(**{name: _day(name, value) for name, value in params.items()})


@router.get("/v1/usage")
def get_usage() -> Response[str]:
    event = router.current_event
    query = usage_query(event)
    return json_response(usage_report(tenant_id(event), query))
