"""``GET /v1/usage?start=YYYY-MM-DD&end=YYYY-MM-DD``: the caller's usage and budgets."""

from __future__ import annotations

import datetime
import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from videojobs.handlers.api_common import json_response, tenant_id
from videojobs.handlers.api_openapi import answers, ok
from videojobs.logic.usage import usage_report
from videojobs.models.errors import InvalidRequestError
from videojobs.models.usage import UsageQuery, UsageReport

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


def _day_parameter(description: str) -> Query:
    # A string of the calendar form: pydantic's date would also take a Unix time.
    return Query(
        pattern=_DAY.pattern, description=description, json_schema_extra={"format": "date"}
    )


@router.get(
    "/v1/usage",
    operation_id="retrieveUsage",
    tags=["usage"],
    summary="Your jobs, seconds generated and cost by day and model",
    description=(
        "Jobs count on the UTC day they were created. Totals are the sum of the jobs' own "
        "costs; `budgets` shows the current UTC day and month."
    ),
    responses=answers(
        ok(UsageReport, "The usage report."),
        bad_request=(
            "Well-formed days are a 400 too when they are not a calendar day, when `start` is "
            "after `end`, or when the range is longer than a year."
        ),
    ),
)
def get_usage(
    start: Annotated[
        str | None,
        _day_parameter("First UTC day, YYYY-MM-DD (default: the first day of end's month)."),
    ] = None,
    end: Annotated[
        str | None, _day_parameter("Last UTC day, YYYY-MM-DD, included (default: today).")
    ] = None,
) -> Response[str]:
    # start and end are declared for the document and checked by the resolver; usage_query
    # reads them again with the unknown- and repeated-parameter checks.
    del start, end
    event = router.current_event
    query = usage_query(event)
    return json_response(usage_report(tenant_id(event), query))
