"""The refusals of admin-webhook sources, one class per kind, each with a stable code."""

from __future__ import annotations

from addon.errors import BadRequest, NotFound, ServiceUnavailable, Unauthorized

__all__ = [
    "MalformedAuthorization",
    "MalformedSignature",
    "MissingEvent",
    "MissingSignature",
    "MissingToken",
    "SignatureMismatch",
    "SourceSecretUnavailable",
    "TokenMismatch",
    "UnknownSource",
    "UnsupportedSignatureMethod",
]


class MissingSignature(Unauthorized):
    """A cloud-signature source's delivery has no `X-Hub-Signature` header."""

    code = "missing_signature"


class UnsupportedSignatureMethod(Unauthorized):
    """`X-Hub-Signature` names a method other than sha256 (e.g. `sha1=`)."""

    code = "unsupported_signature_method"


class MalformedSignature(Unauthorized):
    """`X-Hub-Signature` is not `method=<hex digest>`."""

    code = "malformed_signature"


class SignatureMismatch(Unauthorized):
    """The signature is not the HMAC of the received bytes with any of the source's secrets."""

    code = "signature_mismatch"


class MissingToken(Unauthorized):
    """No token in the source's header (header-token) or in `Authorization: Bearer` (bearer)."""

    code = "missing_token"


class MalformedAuthorization(Unauthorized):
    """An `Authorization` header of another scheme than Bearer, or an empty Bearer."""

    code = "malformed_authorization"


class TokenMismatch(Unauthorized):
    """The token is not the source's secret."""

    code = "token_mismatch"


class UnknownSource(NotFound):
    """No source has the key in the URL."""

    code = "unknown_source"


class MissingEvent(BadRequest):
    """The body has no `webhookEvent` string."""

    code = "missing_event"


class SourceSecretUnavailable(ServiceUnavailable):
    """The source's stored secret cannot be decrypted with the configured keys (answered 503)."""

    code = "source_secret_unavailable"
