"""Routes Jira calls: the lifecycle callbacks and every webhook URL of the descriptor."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from addon.errors import NotFound
from addon.services import Services
from addon.web._body import incoming
from addon.web._errors import error_response
from addon.web._middleware import strip_base

__all__ = ["lifecycle_routes", "webhook_endpoint"]

NO_CONTENT = 204


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def lifecycle_routes(paths: dict[str, str]) -> list[Route]:
    """POST routes for the lifecycle URLs the descriptor declares."""

    def endpoint(name: str):  # type: ignore[no-untyped-def]
        async def handle(request: Request) -> Response:
            services = _services(request)
            body = await incoming(request, services.settings.max_body_bytes)
            await getattr(services.lifecycle, name)(body)
            return Response(status_code=NO_CONTENT)

        handle.__name__ = f"lifecycle_{name}"
        return handle

    return [
        Route(path.split("?", 1)[0], endpoint(name), methods=["POST"], name=f"lifecycle-{name}")
        for name, path in paths.items()
    ]


async def webhook_endpoint(request: Request) -> Response:
    """Any other path: a descriptor webhook (POST), or a clear 404 / 405."""
    services = _services(request)
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    relative = strip_base(raw_path.decode("latin-1").split("?", 1)[0], services.settings.base_path)
    query = request.scope.get("query_string", b"").decode("latin-1")
    matched = services.ingest.match(relative, query)
    if matched is None:
        raise NotFound(f"no route for {request.method} {request.url.path}")
    if request.method != "POST":
        return error_response(
            405,
            "method_not_allowed",
            f"{request.url.path} is a webhook URL; Jira sends POST",
            headers={"Allow": "POST"},
        )
    module, context = matched
    body = await incoming(request, services.settings.max_body_bytes)
    await services.ingest.receive(body, module, context)
    return Response(status_code=NO_CONTENT)
