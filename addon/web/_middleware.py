"""ASGI middleware: serving under the base URL's path prefix, and security headers on every answer."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BasePathMiddleware", "SecurityHeadersMiddleware", "strip_base"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Atlassian's security requirements for Connect apps, as its Connect Security Requirements Tester
# checks them (github.com/atlassian-labs/connect-security-req-tester, analyzers/): every endpoint
# answers `Cache-Control` with both `no-cache` and `no-store` and a `Referrer-Policy` other than
# `no-referrer-when-downgrade` or `unsafe-url`, and an https base URL sends HSTS (at least a year:
# developer.atlassian.com/platform/marketplace/security-requirements/).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-cache, no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
)
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000")


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
    """The security headers on every answer, whoever produced it: routes, refusals, the webhook
    lane, the base-path 404, static files, the server-error 500.

    A header the answer already has is left as it is: an answer that needs another value sets it
    itself, and says why (the inspector's pages: `Referrer-Policy: same-origin`, see its CSRF rule).
    """

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + ((HSTS_HEADER,) if https else ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if headers:
                    present = {name.lower() for name, _ in headers}
                    headers.extend(h for h in self.headers if h[0] not in present)
                else:  # the webhook lane's 204
                    headers.extend(self.headers)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
