"""One JSON error shape for every endpoint: {"error": code, "reason": text}."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from addon.errors import Refusal
from addon.redact import mask_credentials

__all__ = [
    "error_response",
    "exception_handlers",
    "method_not_allowed",
    "refusal_response",
]

logger = logging.getLogger("addon.web")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(
    status: int, code: str, reason: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "reason": reason}, status_code=status, headers=headers)


def refusal_response(
    refusal: Refusal, *, challenge: str | None, method: str, path: str
) -> JSONResponse:
    """The answer to a refusal, the one place a refusal becomes one: a 401 carries `challenge`
    (the door's `WWW-Authenticate`, if it has one); a server-side refusal (5xx) is logged too."""
    if refusal.status >= 500:
        logger.warning("%s %s: %s", method, mask_credentials(path), refusal)
    headers = dict(refusal.headers)
    if refusal.status == 401 and challenge:
        headers["WWW-Authenticate"] = challenge
    return error_response(refusal.status, refusal.code, refusal.reason, headers=headers)


def method_not_allowed(path: str) -> JSONResponse:
    """The answer to anything but a POST on a webhook URL."""
    return error_response(
        405,
        "method_not_allowed",
        f"{path} is a webhook URL; Jira sends POST",
        headers={"Allow": "POST"},
    )


async def _refusal(request: Request, exc: Exception) -> Response:
    """A refusal raised by a route carries the challenge of the door the route is part of."""
    assert isinstance(exc, Refusal)
    challenges: dict[object, str] = getattr(request.app.state, "challenges", {})
    challenge = challenges.get(request.scope.get("endpoint"))
    return refusal_response(exc, challenge=challenge, method=request.method, path=request.url.path)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    reason = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, code, reason, headers=dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    path = mask_credentials(request.url.path)
    logger.exception("unexpected error on %s %s", request.method, path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed; the error is in its log")


exception_handlers = {Refusal: _refusal, HTTPException: _http, Exception: _unexpected}
