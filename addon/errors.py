"""Refusals: every way a request can be turned away, and the one JSON shape they answer with."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "BadRequest",
    "NotFound",
    "PayloadTooLarge",
    "Refusal",
    "ServiceUnavailable",
    "Unauthorized",
    "ValueTooLong",
]


class Refusal(Exception):
    """A request we turn away; `status`, `code` and `reason` become the JSON error answer."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers the answer carries besides the error (a 503's `Retry-After`)."""
        return {}

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "reason": self.reason}


class BadRequest(Refusal):
    status = 400
    code = "bad_request"


class ValueTooLong(BadRequest):
    """A value the log indexes (webhook identifier, client key, event name) is too long to index."""

    code = "value_too_long"


class Unauthorized(Refusal):
    """The request is not provably from who it claims to be (answered 401 with WWW-Authenticate)."""

    status = 401
    code = "unauthorized"


class NotFound(Refusal):
    status = 404
    code = "not_found"


class PayloadTooLarge(Refusal):
    status = 413
    code = "payload_too_large"


class ServiceUnavailable(Refusal):
    """A dependency (database, key server) failed; Jira retries a 503."""

    status = 503
    code = "service_unavailable"
