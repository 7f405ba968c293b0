"""The route Jira admin webhooks call: POST /webhooks/jira/sources/{source_key}."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from addon.errors import Refusal
from addon.services import Services
from addon.sources import SOURCE_PATH
from addon.web._body import incoming
from addon.web._errors import error_response

__all__ = ["PATH", "webhook_endpoint"]

PATH = SOURCE_PATH + "{source_key}"
NO_CONTENT = 204


async def webhook_endpoint(request: Request) -> Response:
    """Verify and record one admin-webhook delivery (204); refusals answer JSON, no JWT realm."""
    if request.method != "POST":
        return error_response(
            405,
            "method_not_allowed",
            f"{request.url.path} is a webhook URL; Jira sends POST",
            headers={"Allow": "POST"},
        )
    services: Services = request.app.state.services
    try:
        body = await incoming(request, services.settings.max_body_bytes)
        await services.sources.receive(body, request.path_params["source_key"])
    except Refusal as refusal:
        if refusal.status >= 500:
            raise
        return error_response(refusal.status, refusal.code, refusal.reason)
    return Response(status_code=NO_CONTENT)
