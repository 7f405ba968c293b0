"""ASGI middleware: serving under the base URL's path prefix, and security headers on pages."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BasePathMiddleware", "SecurityHeadersMiddleware", "strip_base"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]


def strip_base(path: str, base_path: str) -> str:
    """`path` relative to `base_path`, segment-aware ('/jira' strips '/jira/x', not '/jiraffe')."""
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        return path[len(base_path) :] or "/"
    return path


class BasePathMiddleware:
    """Serve every route under `base_path`, whether or not a proxy already set `root_path`."""

    def __init__(self, app: ASGIApp, base_path: str) -> None:
        self.app = app
        self.base_path = base_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.base_path:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.base_path or path.startswith(self.base_path + "/"):
            if scope.get("root_path", "") != self.base_path:
                scope = dict(scope, root_path=self.base_path)
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            body = json.dumps(
                {"error": "not_found", "reason": f"this add-on is served under {self.base_path}/"}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Add CSP, X-Frame-Options and friends to every HTML answer (and `no-store` under `private`)."""

    def __init__(
        self, app: ASGIApp, *, private_prefixes: tuple[str, ...] = ("/inspector",)
    ) -> None:
        self.app = app
        self.private_prefixes = private_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        route_path = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
        private = route_path.startswith(self.private_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if private or content_type.startswith(b"text/html"):
                    present = {k.lower() for k, _ in headers}
                    headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if private and b"cache-control" not in {k.lower() for k, _ in headers}:
                    headers.append((b"cache-control", b"no-store"))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
