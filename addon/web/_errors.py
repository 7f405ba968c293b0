"""One JSON error shape for every endpoint: {"error": code, "reason": text}."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from addon.errors import Refusal
from addon.redact import mask_credentials

__all__ = ["error_response", "exception_handlers", "refusal_response"]

logger = logging.getLogger("addon.web")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(
    status: int,
    code: str,
    reason: str,
    *,
    realm: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    extra = dict(headers or {})
    if status == 401 and realm is not None:
        extra.setdefault("WWW-Authenticate", f'JWT realm="{realm}"')
    return JSONResponse({"error": code, "reason": reason}, status_code=status, headers=extra)


def refusal_response(
    refusal: Refusal, *, realm: str | None, method: str, path: str
) -> JSONResponse:
    """The answer to a refusal; a server-side one (5xx) is logged too, with what caused it."""
    if refusal.status >= 500:
        logger.warning("%s %s: %s", method, mask_credentials(path), refusal)
    return error_response(refusal.status, refusal.code, refusal.reason, realm=realm)


def _realm(request: Request) -> str | None:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "key", None)


async def _refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return refusal_response(
        exc, realm=_realm(request), method=request.method, path=request.url.path
    )


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
