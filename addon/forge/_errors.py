"""The refusals of the Forge door, one class per kind, each with a stable code.

The token-level refusals every JWT door shares (malformed, algorithm, kid, signature, times, a
missing claim, the key set unavailable) are `addon.auth`'s; these are Forge's own.
"""

from __future__ import annotations

from addon.errors import BadRequest, Unauthorized

__all__ = [
    "IsolatedCloudUnsupported",
    "MalformedAuthorization",
    "MalformedEvent",
    "MalformedSystemToken",
    "MissingEventType",
    "MissingInvocationToken",
    "NotAnInvocationToken",
    "WrongAudience",
]


class MissingInvocationToken(Unauthorized):
    """No `Authorization` header: Forge sends `Authorization: Bearer <FIT>` on every call."""

    code = "missing_token"


class MalformedAuthorization(Unauthorized):
    """An `Authorization` header of another scheme than Bearer, or an empty Bearer."""

    code = "malformed_authorization"


class NotAnInvocationToken(Unauthorized):
    """The token's `iss` is not `forge/invocation-token`."""

    code = "issuer_mismatch"


class WrongAudience(Unauthorized):
    """The token's `aud` is not exactly this app's FORGE_APP_ID."""

    code = "audience_mismatch"


class IsolatedCloudUnsupported(Unauthorized):
    """The token carries `icLabel`: it comes from an Isolated Cloud, which is not supported."""

    code = "isolated_cloud_unsupported"


class MalformedEvent(BadRequest):
    """The body is not a JSON object this door can read (nor canonicalise)."""

    code = "malformed_event"


class MissingEventType(BadRequest):
    """Neither the body nor its `payload` has an `eventType` string."""

    code = "missing_event"


class MalformedSystemToken(BadRequest):
    """`x-forge-oauth-system` is empty, too long, or not a token's characters."""

    code = "malformed_system_token"
