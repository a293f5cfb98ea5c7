"""``GET /v1/models``: the models this deployment serves (OpenAI's list shape)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from videojobs.handlers.api_common import json_response, tenant_id
from videojobs.handlers.api_openapi import answers, ok
from videojobs.models.api import ModelList, ModelResource
from videojobs.settings import get_settings

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

# Who makes each model, and when it was published (what OpenAI's Model object carries).
_CATALOGUE: dict[str, tuple[str, int]] = {
    "sora-2": ("openai", 1759708800),
    "sora-2-pro": ("openai", 1759708800),
    "amazon.nova-reel-v1:1": ("amazon", 1743465600),
    "luma.ray-v2:0": ("luma", 1737504000),
}


@router.get(
    "/v1/models",
    operation_id="listModels",
    tags=["models"],
    summary="The models this deployment serves",
    description=(
        "sora-2 and sora-2-pro through the OpenAI Videos protocol; amazon.nova-reel-v1:1 and "
        "luma.ray-v2:0 through Amazon Bedrock, where the deployment enables them."
    ),
    responses=answers(ok(ModelList, "The served models.")),
)
def list_models() -> Response[str]:
    # Any tenant may read it, but only an authenticated one (as every /v1 route).
    tenant_id(router.current_event)
    served = get_settings().served_models()
    return json_response(
        ModelList(
            data=[
                ModelResource(id=name, owned_by=_CATALOGUE[name][0], created=_CATALOGUE[name][1])
                for name in served
            ]
        )
    )
