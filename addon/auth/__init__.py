"""Connect JWT authentication: query string hashes, shared-secret tokens and signed installs."""

from __future__ import annotations

from ._errors import (
    AlgorithmNotAllowed,
    AmbiguousToken,
    AudienceMismatch,
    ContextQshRefused,
    InvalidKeyId,
    InvalidSignature,
    IssuerMismatch,
    JwksUnavailable,
    KeyServerUnavailable,
    MalformedToken,
    MissingClaim,
    MissingKeyId,
    MissingToken,
    QshMismatch,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    UnknownTenant,
)
from ._jwks import DEFAULT_FORGE_JWKS_URL, JwksCache
from ._keys import DEFAULT_INSTALL_KEYS_URL, InstallKeyFetcher
from ._qsh import canonical_request, query_string_hash, request_target
from ._tokens import (
    decode_unverified,
    encode_hs256,
    encode_rs256,
    verify_hs256,
    verify_rs256,
)
from ._verify import VerifiedToken, extract_token, verify_install, verify_symmetric

__all__ = [
    "DEFAULT_FORGE_JWKS_URL",
    "DEFAULT_INSTALL_KEYS_URL",
    "AlgorithmNotAllowed",
    "AmbiguousToken",
    "AudienceMismatch",
    "ContextQshRefused",
    "InstallKeyFetcher",
    "InvalidKeyId",
    "InvalidSignature",
    "IssuerMismatch",
    "JwksCache",
    "JwksUnavailable",
    "KeyServerUnavailable",
    "MalformedToken",
    "MissingClaim",
    "MissingKeyId",
    "MissingToken",
    "QshMismatch",
    "TokenExpired",
    "TokenNotYetValid",
    "UnknownKey",
    "UnknownTenant",
    "VerifiedToken",
    "canonical_request",
    "decode_unverified",
    "encode_hs256",
    "encode_rs256",
    "extract_token",
    "query_string_hash",
    "request_target",
    "verify_hs256",
    "verify_install",
    "verify_rs256",
    "verify_symmetric",
]
