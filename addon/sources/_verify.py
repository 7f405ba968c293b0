"""Checking a source's credential on the raw request: WebSub signatures, header tokens, Bearer.

Token and bearer secrets are kept only as `sha256:<hex>` digests. A plain (unsalted, fast) hash is
enough because the secrets the CLI generates are random 256-bit tokens, which no dictionary or
brute force reaches, and hashing must stay cheap: it runs on every delivery, before anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from addon.sources._errors import (
    MalformedAuthorization,
    MalformedSignature,
    MissingSignature,
    MissingToken,
    SignatureMismatch,
    TokenMismatch,
    UnsupportedSignatureMethod,
)

__all__ = [
    "SIGNATURE_HEADER",
    "SUPPORTED_METHOD",
    "hash_token",
    "parse_bearer",
    "parse_signature",
    "signature_for",
    "verify_signature",
    "verify_token",
]

SIGNATURE_HEADER = "X-Hub-Signature"
SUPPORTED_METHOD = "sha256"
HASH_PREFIX = "sha256:"

_METHOD = re.compile(r"[A-Za-z0-9_-]{1,32}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,15}")


def _candidates(secret: str | Sequence[str]) -> tuple[str, ...]:
    return (secret,) if isinstance(secret, str) else tuple(secret)


def signature_for(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature` value Jira sends for `body`: `sha256=<hex HMAC-SHA256>`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{SUPPORTED_METHOD}={digest}"


def parse_signature(header_value: str | None) -> str:
    """The lower-case hex digest of a `sha256=<hex>` header value; refuses anything else."""
    if header_value is None or not header_value.strip():
        raise MissingSignature(
            f"no {SIGNATURE_HEADER} header; this source expects Jira's signature "
            f"({SIGNATURE_HEADER}: {SUPPORTED_METHOD}=<hex>): set the webhook's secret in Jira"
        )
    method, separator, digest = header_value.strip().partition("=")
    if not separator or not _METHOD.fullmatch(method):
        raise MalformedSignature(
            f"{SIGNATURE_HEADER} is not in the form method=signature "
            f"(expected {SUPPORTED_METHOD}=<64 hex digits>)"
        )
    if method.lower() != SUPPORTED_METHOD:
        raise UnsupportedSignatureMethod(
            f"{SIGNATURE_HEADER} uses the method {method[:32]!r}; "
            f"only {SUPPORTED_METHOD} is supported"
        )
    if not _SHA256_HEX.fullmatch(digest):
        raise MalformedSignature(
            f"the {SUPPORTED_METHOD} signature in {SIGNATURE_HEADER} is not 64 hex digits"
        )
    return digest.lower()


def verify_signature(body: bytes, header_value: str | None, secret: str | Sequence[str]) -> int:
    """Accept if `header_value` is the sha256 HMAC of the raw `body` with `secret` (or any of them);
    returns the position of the secret that matched (0: the first).

    Every candidate is compared, in constant time, whatever the outcome of the others.
    """
    given = parse_signature(header_value).encode()
    matched = -1
    for position, candidate in enumerate(_candidates(secret)):
        expected = hmac.new(candidate.encode(), body, hashlib.sha256).hexdigest().encode()
        if hmac.compare_digest(expected, given) and matched < 0:
            matched = position
    if matched < 0:
        raise SignatureMismatch(
            f"{SIGNATURE_HEADER} is not the HMAC-SHA256 of the body with this source's secret: "
            "the secret in Jira differs, or the body was changed on the way"
        )
    return matched


def hash_token(secret: str) -> str:
    """The stored form of a header-token or bearer secret: `sha256:<hex>`."""
    return HASH_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def verify_token(
    presented: str | None, stored_hash: str | Sequence[str], *, where: str = "the token header"
) -> int:
    """Accept if `presented` hashes to `stored_hash` (or any of them), compared in constant time;
    returns the position of the digest that matched (0: the first)."""
    if presented is None or not presented.strip():
        raise MissingToken(f"no token in {where}; this source expects its secret there")
    given = hash_token(presented.strip()).encode()
    matched = -1
    for position, candidate in enumerate(_candidates(stored_hash)):
        if hmac.compare_digest(candidate.encode(), given) and matched < 0:
            matched = position
    if matched < 0:
        raise TokenMismatch(f"the token in {where} is not this source's secret")
    return matched


def parse_bearer(authorization: str | None) -> str:
    """The credential in `Authorization: Bearer <secret>`; refuses none or another scheme."""
    if authorization is None or not authorization.strip():
        raise MissingToken(
            "no Authorization header; this source expects Authorization: Bearer <secret>"
        )
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        named = (
            f"the scheme {scheme!r}" if credential and _SCHEME.fullmatch(scheme) else "no scheme"
        )
        raise MalformedAuthorization(
            f"the Authorization header has {named}; "
            "this source expects Authorization: Bearer <secret>"
        )
    if not credential.strip():
        raise MalformedAuthorization("the Authorization header has an empty Bearer credential")
    return credential.strip()
