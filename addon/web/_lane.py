"""The webhook lane: every door's webhook deliveries, answered straight from ASGI.

A busy Jira site sends webhooks in bursts of thousands; everything else (pages, lifecycle, the
inspector) is rare. A request whose path is one of a door's webhook URLs is verified by that door
and recorded here, without Starlette's routing, request and response objects; anything else goes
on to the router. No route of the app shares a path with a door's webhooks: `check_collisions`
refuses that at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from addon.doors import AnyDoor
from addon.errors import Refusal
from addon.incoming import incoming_from_scope
from addon.services import Services
from addon.web._errors import method_not_allowed, refusal_response
from addon.web._middleware import strip_base

__all__ = ["RouteCollision", "WebhookLane", "check_collisions"]

NO_CONTENT_START = {"type": "http.response.start", "status": 204, "headers": []}
EMPTY_BODY = {"type": "http.response.body", "body": b""}


class RouteCollision(ValueError):
    """A door's webhook URL is also a path another route or door answers."""


def check_collisions(doors: Sequence[AnyDoor], routes: Sequence[BaseRoute]) -> None:
    """Refuse, once at start-up, a webhook path that a route or another door also answers."""
    for door in doors:
        for path in door.example_paths():
            probe: Scope = {"type": "http", "method": "POST", "path": path, "root_path": ""}
            for route in routes:
                if route.matches(probe)[0] is not Match.NONE:
                    raise RouteCollision(
                        f"the {door.kind} webhook URL {path} is also the path of the route "
                        f"{getattr(route, 'path', route)!r}; give the webhook another URL"
                    )
            for other in doors:
                if other is not door and other.match(path, "") is not None:
                    raise RouteCollision(
                        f"the {door.kind} webhook URL {path} is also a {other.kind} webhook URL"
                    )


class WebhookLane:
    """ASGI middleware answering every door's webhook URLs ahead of the router."""

    def __init__(self, app: ASGIApp, *, base_path: str, doors: Sequence[AnyDoor]) -> None:
        self.app = app
        self.base_path = base_path.rstrip("/")
        self.doors = tuple(doors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services: Services | None = getattr(scope["app"].state, "services", None)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        if services is None or not self._under_base(path):  # BasePathMiddleware answers those
            await self.app(scope, receive, send)
            return
        relative = strip_base(path, self.base_path)
        query = scope["query_string"].decode("latin-1")
        for door in self.doors:
            matched = door.match(relative, query)
            if matched is not None:
                break
        else:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await method_not_allowed(scope["path"])(scope, receive, send)
            return
        try:
            request = await incoming_from_scope(scope, receive, services.settings.max_body_bytes)
            await services.ingest.record(await door.verify(request, matched))
        except ClientDisconnect:
            return
        except Refusal as refusal:
            response = refusal_response(
                refusal, challenge=door.challenge, method=scope["method"], path=scope["path"]
            )
            await response(scope, receive, send)
            return
        await send(NO_CONTENT_START)
        await send(EMPTY_BODY)

    def _under_base(self, path: str) -> bool:
        base = self.base_path
        return not base or path == base or path.startswith(base + "/")
