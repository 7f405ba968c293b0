"""The refusals of Connect JWT authentication, one class per kind, each with a stable code."""

from __future__ import annotations

from collections.abc import Mapping

from addon.errors import ServiceUnavailable, Unauthorized

__all__ = [
    "AlgorithmNotAllowed",
    "AmbiguousToken",
    "AudienceMismatch",
    "ContextQshRefused",
    "InvalidKeyId",
    "InvalidSignature",
    "IssuerMismatch",
    "JwksUnavailable",
    "KeyServerUnavailable",
    "MalformedToken",
    "MissingClaim",
    "MissingKeyId",
    "MissingToken",
    "QshMismatch",
    "TimeClaimOutOfRange",
    "TokenExpired",
    "TokenLifetimeTooLong",
    "TokenNotYetValid",
    "TokenReplayed",
    "TokenSuperseded",
    "UnknownKey",
    "UnknownTenant",
]


class MissingToken(Unauthorized):
    """No JWT in the `Authorization: JWT <token>` header nor in the `jwt` query parameter."""

    code = "missing_token"


class MalformedToken(Unauthorized):
    """Not three base64url segments of JSON objects, or a claim of the wrong type."""

    code = "malformed_token"


class AmbiguousToken(Unauthorized):
    """The header and the `jwt` query parameter carry two different tokens."""

    code = "ambiguous_token"


class AlgorithmNotAllowed(Unauthorized):
    """The token's `alg` is not the one this endpoint pins (HS256 or RS256)."""

    code = "algorithm_not_allowed"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class TokenExpired(Unauthorized):
    code = "token_expired"


class TokenLifetimeTooLong(Unauthorized):
    """`exp` lies more than an hour (plus the leeway) after the token's `iat`, or after now."""

    code = "token_lifetime_too_long"


class TimeClaimOutOfRange(Unauthorized):
    """`iat`, `nbf` or `exp` is a number, but not a time within ten years of now."""

    code = "time_claim_out_of_range"


class TokenReplayed(Unauthorized):
    """A token already seen with the same webhook identifier, or lifecycle event, and another body:
    the signature does not cover the body, so it was captured and sent again."""

    code = "token_replayed"


class TokenSuperseded(Unauthorized):
    """A lifecycle token signed before the tenant's last lifecycle change (or, after an uninstall,
    in the same second)."""

    code = "token_superseded"


class TokenNotYetValid(Unauthorized):
    """`iat` (or `nbf`) lies further in the future than the leeway allows."""

    code = "token_not_yet_valid"


class MissingClaim(Unauthorized):
    code = "missing_claim"


class QshMismatch(Unauthorized):
    """The `qsh` claim was computed for another method, path or query."""

    code = "qsh_mismatch"


class ContextQshRefused(Unauthorized):
    """A context JWT (`qsh` = "context-qsh") on an endpoint that needs a URL-bound qsh."""

    code = "context_qsh_refused"


class UnknownTenant(Unauthorized):
    """No installed tenant has the token's `iss` as clientKey."""

    code = "unknown_tenant"


class AudienceMismatch(Unauthorized):
    """An install token whose `aud` does not name this app's baseUrl."""

    code = "audience_mismatch"


class IssuerMismatch(Unauthorized):
    """An install token whose `iss` is not the clientKey of the install payload."""

    code = "issuer_mismatch"


class MissingKeyId(Unauthorized):
    code = "missing_key_id"


class InvalidKeyId(Unauthorized):
    code = "invalid_key_id"


class UnknownKey(Unauthorized):
    """No key has the token's `kid`: the install key server answered 404, or the JWKS lacks it."""

    code = "unknown_key"


class KeyServerUnavailable(ServiceUnavailable):
    """The install key server failed, timed out or answered something that is not a key."""

    code = "key_server_unavailable"


class JwksUnavailable(ServiceUnavailable):
    """The JSON Web Key Set cannot be fetched: answered 503 with `Retry-After`, never accepted."""

    code = "jwks_unavailable"

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}
