"""The event inspector: every delivery, live, in the browser, and a JSON API behind it."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from addon.inspector import _routes
from addon.inspector._access import InspectorAccess
from addon.inspector._json import delivery_detail_json, delivery_json
from addon.settings import Settings

__all__ = ["delivery_detail_json", "delivery_json", "routes"]


def routes(settings: Settings) -> list[BaseRoute]:
    """/inspector and everything under it, each behind `InspectorAccess` (404 while closed)."""
    return [
        Route(
            "/inspector",
            InspectorAccess(_routes.index_redirect_app, settings=settings),
            name="inspector_index",
        ),
        Mount(
            "/inspector",
            routes=_routes.routes,
            middleware=[Middleware(InspectorAccess, settings=settings)],
            name="inspector",
        ),
    ]
