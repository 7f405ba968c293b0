"""Who may open the inspector: nobody unless credentials are configured, then HTTP Basic."""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import math

from starlette.types import ASGIApp, Receive, Scope, Send

from addon.inspector._throttle import LoginThrottle
from addon.settings import Settings
from addon.web._clients import TrustedProxies
from addon.web._errors import error_response

__all__ = [
    "BEARER",
    "CLOSED_REASON",
    "REALM",
    "Access",
    "InspectorAccess",
    "bearer_token",
    "is_api_token",
    "judge",
    "parse_basic",
]

logger = logging.getLogger("addon.inspector")

REALM = "inspector"
CLOSED_REASON = (
    "the inspector is closed: set INSPECTOR_USERNAME and INSPECTOR_PASSWORD to open /inspector"
)


class Access(enum.Enum):
    CLOSED = "closed"
    DENIED = "denied"
    ALLOWED = "allowed"


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic ...` header, or None if there is none."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


BEARER = "inspector_bearer"
"""Set in the request's state when it came with the `INSPECTOR_API_TOKEN` bearer token: the only
credential a JSON API that changes state accepts (browsers resend Basic to cross-site requests)."""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None if it is not one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_api_token(token: str, api_token: str) -> bool:
    """Whether a bearer `token` is the configured `INSPECTOR_API_TOKEN`, in constant time."""
    return hmac.compare_digest(_digest(token), _digest(api_token))


def judge(authorization: str | None, username: str | None, password: str | None) -> Access:
    """Closed without configured credentials; otherwise compare both parts in constant time."""
    if not username or not password:
        return Access.CLOSED
    given = parse_basic(authorization) or ("", "")
    user_ok = hmac.compare_digest(_digest(given[0]), _digest(username))
    password_ok = hmac.compare_digest(_digest(given[1]), _digest(password))
    return Access.ALLOWED if user_ok & password_ok else Access.DENIED


def _digest(value: str) -> bytes:
    """A fixed-length stand-in, so that the comparison does not reveal the length either."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class InspectorAccess:
    """ASGI guard in front of every inspector route: 404 while closed, 401 without the credentials,
    429 for a while after too many wrong ones from one client.

    Every guard of one app shares one `throttle`: a wrong guess counts once, wherever it is made.
    The client is the address `proxies` resolves (`FORWARDED_ALLOW_IPS`).
    """

    def __init__(
        self, app: ASGIApp, *, settings: Settings, throttle: LoginThrottle, proxies: TrustedProxies
    ) -> None:
        self.app = app
        self.username = settings.inspector_username
        self.password = settings.inspector_password
        self.api_token = settings.inspector_api_token
        self.throttle = throttle
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        authorization = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"authorization"),
            None,
        )
        client = self.proxies.client(scope)
        guarded = (self.username and self.password) or self.api_token
        wait = self.throttle.wait_for(client) if guarded else 0.0
        if wait:
            seconds = str(math.ceil(wait))
            response = error_response(
                429,
                "too_many_attempts",
                f"too many wrong inspector logins from this address; try again in {seconds} s",
                headers={"Retry-After": seconds},
            )
            await response(scope, receive, send)
            return
        bearer = bearer_token(authorization)
        if bearer is not None and self.api_token:
            if is_api_token(bearer, self.api_token):
                self.throttle.succeeded(client)
                scope.setdefault("state", {})[BEARER] = True
                await self.app(scope, receive, send)
                return
            self._failed(client, scope)
            response = error_response(
                401,
                "unauthorized",
                "the bearer token is not INSPECTOR_API_TOKEN",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
            await response(scope, receive, send)
            return
        access = judge(authorization, self.username, self.password)
        if access is Access.ALLOWED:
            self.throttle.succeeded(client)
            await self.app(scope, receive, send)
            return
        if access is Access.CLOSED:
            response = error_response(404, "not_found", CLOSED_REASON)
        else:
            if authorization is not None:  # a browser's first request, without any, is no guess
                self._failed(client, scope)
            response = error_response(
                401,
                "unauthorized",
                "the inspector needs its username and password (HTTP Basic)",
                headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
            )
        await response(scope, receive, send)

    def _failed(self, client: str, scope: Scope) -> None:
        self.throttle.failed(client)
        if not self.throttle.wait_for(client):
            return
        hint = (
            "; it sends X-Forwarded-For but is not in FORWARDED_ALLOW_IPS, so every client "
            "behind it shares this allowance"
            if self.proxies.ignores_forwarding(scope)
            else ""
        )
        logger.warning(
            "inspector: %d wrong logins within a minute from %s: it waits%s",
            self.throttle.limit,
            client,
            hint,
        )
