"""The event inspector: every delivery, live, in the browser, and a JSON API behind it."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from addon.inspector import _people, _routes
from addon.inspector._access import InspectorAccess, bearer_token, is_api_token
from addon.inspector._json import delivery_detail_json, delivery_json
from addon.inspector._throttle import LoginThrottle
from addon.settings import Settings
from addon.web._clients import TrustedProxies

__all__ = [
    "bearer_token",
    "delivery_detail_json",
    "delivery_json",
    "is_api_token",
    "routes",
]


def routes(settings: Settings) -> list[BaseRoute]:
    """/inspector and everything under it, behind `InspectorAccess` (404 while closed), with one
    login throttle for both."""
    throttle = LoginThrottle(settings.inspector_login_attempts)
    proxies = TrustedProxies(settings.forwarded_allow_ips)
    return [
        Route(
            "/inspector",
            InspectorAccess(
                _routes.index_redirect_app, settings=settings, throttle=throttle, proxies=proxies
            ),
            name="inspector_index",
        ),
        Mount(
            "/inspector",
            routes=[*_routes.routes, *_people.routes],
            middleware=[
                Middleware(InspectorAccess, settings=settings, throttle=throttle, proxies=proxies)
            ],
            name="inspector",
        ),
    ]
