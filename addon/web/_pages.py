"""The landing page, the descriptor, and the health check."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from addon.services import Services
from addon.store import StoreUnavailable

__all__ = ["routes"]

logger = logging.getLogger("addon.web")


async def landing(request: Request) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    return services.templates.TemplateResponse(
        request,
        "landing.html",
        {
            "name": settings.name,
            "key": settings.key,
            "base_url": settings.base_url,
            "descriptor_url": f"{settings.base_url}/atlassian-connect.json",
            "inspector": settings.inspector_enabled,
            "inspector_url": f"{settings.base_path}/inspector/",
            "webhooks": len(services.rendered.webhooks),
        },
    )


async def connect_descriptor(request: Request) -> Response:
    services: Services = request.app.state.services
    return Response(services.descriptor_json, media_type="application/json")


async def healthz(request: Request) -> Response:
    """200 while the database takes writes; 503 when it cannot (away, disk full, read-only)."""
    services: Services = request.app.state.services
    try:
        await services.store.db.check_writable()
    except StoreUnavailable as exc:
        logger.warning("health check: %s", exc.detail)
        return JSONResponse({"status": "unavailable", "reason": exc.reason}, status_code=503)
    return JSONResponse({"status": "ok"})


routes = [
    Route("/", landing, methods=["GET"], name="landing"),
    Route("/atlassian-connect.json", connect_descriptor, methods=["GET"], name="descriptor"),
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
]
