"""The hot path: Connect webhook deliveries answered straight from ASGI, ahead of the router.

A busy Jira site sends webhooks in bursts of thousands; everything else (pages, lifecycle, the
inspector) is rare. A POST whose path matches one of the descriptor's webhook URL templates, and
no other route, is verified and recorded here without Starlette's routing, request and response
objects; the answers are the same as the router's catch-all gives (`_connect.webhook_endpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from addon.errors import Refusal
from addon.services import Services
from addon.web._body import incoming_from_scope
from addon.web._errors import refusal_response
from addon.web._middleware import strip_base

__all__ = ["WebhookLane"]

NO_CONTENT_START = {"type": "http.response.start", "status": 204, "headers": []}
EMPTY_BODY = {"type": "http.response.body", "body": b""}
MAX_REMEMBERED_PATHS = 1024


class WebhookLane:
    """ASGI middleware taking descriptor webhook POSTs off the router's path."""

    def __init__(
        self, app: ASGIApp, *, base_path: str, realm: str, routes: Sequence[BaseRoute]
    ) -> None:
        self.app = app
        self.base_path = base_path.rstrip("/")
        self.realm = realm
        self._routes = tuple(routes)
        self._claimed: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        services: Services | None = getattr(scope["app"].state, "services", None)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        if services is None or not self._under_base(path):  # BasePathMiddleware answers those
            await self.app(scope, receive, send)
            return
        relative = strip_base(path, self.base_path)
        if self._claimed_by_route(relative):
            await self.app(scope, receive, send)
            return
        matched = services.ingest.match(relative, scope["query_string"].decode("latin-1"))
        if matched is None:
            await self.app(scope, receive, send)
            return
        module, context = matched
        try:
            request = await incoming_from_scope(scope, receive, services.settings.max_body_bytes)
            await services.ingest.receive(request, module, context)
        except ClientDisconnect:
            return
        except Refusal as refusal:
            response = refusal_response(
                refusal, realm=self.realm, method=scope["method"], path=scope["path"]
            )
            await response(scope, receive, send)
            return
        await send(NO_CONTENT_START)
        await send(EMPTY_BODY)

    def _under_base(self, path: str) -> bool:
        base = self.base_path
        return not base or path == base or path.startswith(base + "/")

    def _claimed_by_route(self, relative: str) -> bool:
        """Whether a route other than the webhook catch-all answers `relative` (lifecycle, pages)."""
        claimed = self._claimed.get(relative)
        if claimed is None:
            probe: Scope = {"type": "http", "method": "POST", "path": relative, "root_path": ""}
            claimed = any(route.matches(probe)[0] is not Match.NONE for route in self._routes)
            if len(self._claimed) >= MAX_REMEMBERED_PATHS:
                self._claimed.clear()
            self._claimed[relative] = claimed
        return claimed
