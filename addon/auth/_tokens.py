"""Connect JWTs on top of PyJWT, with the algorithm always pinned by the caller."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import Algorithm, get_default_algorithms

from ._errors import (
    AlgorithmNotAllowed,
    InvalidSignature,
    MalformedToken,
    MissingClaim,
    TimeClaimOutOfRange,
    TokenExpired,
    TokenLifetimeTooLong,
    TokenNotYetValid,
)

__all__ = [
    "decode_unverified",
    "encode_hs256",
    "encode_rs256",
    "verify_hs256",
    "verify_rs256",
]

MAX_TOKEN_LENGTH = 8192
MAX_LIFETIME = 3_600
"""The longest a token may be valid (Atlassian's examples live 180 s): a captured token with a
far `exp` would otherwise be replayable for that long."""
TIME_WINDOW = 3_653 * 86_400
"""How far from now `iat`, `nbf` and `exp` may lie: ten years."""

_ALGORITHMS: dict[str, Algorithm] = {
    name: algorithm
    for name, algorithm in get_default_algorithms().items()
    if name in ("HS256", "RS256")
}
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")
_SHOWABLE = re.compile(r"[A-Za-z0-9+._-]{1,20}")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A token decoded once: header and claims (unverified), and what the signature covers."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def encode_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """Sign `claims` with a tenant's shared secret, as Jira does for webhooks."""
    return jwt.encode(dict(claims), secret, algorithm="HS256")


def encode_rs256(claims: Mapping[str, Any], private_key_pem: str | bytes, kid: str) -> str:
    """Sign `claims` with an RSA private key, as Atlassian does for install callbacks."""
    return jwt.encode(dict(claims), private_key_pem, algorithm="RS256", headers={"kid": kid})


def decode_unverified(token: str | bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a token, WITHOUT checking anything but its shape."""
    parsed = parse_token(token)
    return parsed.header, parsed.claims


def verify_hs256(
    token: str | bytes, secret: str, *, leeway: int, now: float | None = None
) -> dict[str, Any]:
    """The claims of an HS256 token signed with `secret`, with `exp` and `iat` checked."""
    parsed = parse_token(token)
    check_hs256(parsed, secret, leeway=leeway, now=now)
    return parsed.claims


def verify_rs256(
    token: str | bytes, public_key_pem: str | bytes, *, leeway: int, now: float | None = None
) -> dict[str, Any]:
    """The claims of an RS256 token signed by the key of `public_key_pem` (`aud` is not checked).

    Raises ValueError if `public_key_pem` is not a PEM RSA public key.
    """
    parsed = parse_token(token)
    check_rs256(parsed, public_key_pem, leeway=leeway, now=now)
    return parsed.claims


def parse_token(token: str | bytes) -> ParsedToken:
    """Split and decode a compact JWT; anything else raises MalformedToken."""
    if isinstance(token, str):
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            _malformed("the token has characters outside base64url")
    elif isinstance(token, bytes):
        raw = token
    else:
        _malformed("the token is not a string")
    if len(raw) > MAX_TOKEN_LENGTH:
        _malformed(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    segments = raw.split(b".")
    if len(segments) != 3:
        _malformed("the token is not three base64url segments separated by '.'")
    header_segment, claims_segment, signature_segment = segments
    return ParsedToken(
        header=_json_object(_b64decode(header_segment, "header"), "header"),
        claims=_json_object(_b64decode(claims_segment, "claims"), "claims"),
        signing_input=raw[: len(header_segment) + 1 + len(claims_segment)],
        signature=_b64decode(signature_segment, "signature"),
    )


def check_header(parsed: ParsedToken, expected: str, hint: str = "") -> None:
    """Refuse a token whose `alg` is not exactly `expected`, or that has `crit` extensions."""
    alg = parsed.header.get("alg")
    if alg != expected:
        if alg is None:
            shown = "no alg"
        elif isinstance(alg, str) and _SHOWABLE.fullmatch(alg):
            shown = f"alg {alg}"
        else:
            shown = "an unsupported alg"
        raise AlgorithmNotAllowed(f"the token has {shown}; {hint or f'expected {expected}'}")
    if "crit" in parsed.header:
        _malformed("the token has critical header extensions (crit), which are not supported")


def check_hs256(parsed: ParsedToken, secret: str, *, leeway: int, now: float | None = None) -> None:
    """Pin HS256, verify the signature with `secret`, then `exp`/`iat`/`nbf`."""
    check_header(parsed, "HS256")
    if not secret:
        raise InvalidSignature("there is no shared secret to verify the signature with")
    if not _ALGORITHMS["HS256"].verify(parsed.signing_input, secret.encode(), parsed.signature):
        raise InvalidSignature("the signature does not match the tenant's shared secret")
    check_times(parsed.claims, leeway=leeway, now=now)


def check_rs256(
    parsed: ParsedToken, public_key_pem: str | bytes, *, leeway: int, now: float | None = None
) -> None:
    """Pin RS256, verify the signature with the PEM public key, then `exp`/`iat`/`nbf`."""
    check_header(parsed, "RS256")
    key = load_rsa_public_key(public_key_pem)
    if not _ALGORITHMS["RS256"].verify(parsed.signing_input, key, parsed.signature):
        raise InvalidSignature("the signature does not match the install key")
    check_times(parsed.claims, leeway=leeway, now=now)


def check_times(claims: Mapping[str, Any], *, leeway: int, now: float | None = None) -> None:
    """Require `exp` and `iat`; refuse an expired token, one issued in the future, one valid for
    longer than `MAX_LIFETIME`, and any time claim that is not within `TIME_WINDOW` of now."""
    if now is None:
        now = time.time()
    exp = _time_claim(claims, "exp", now)
    iat = _time_claim(claims, "iat", now)
    nbf = _time_claim(claims, "nbf", now) if "nbf" in claims else None
    if now >= exp + leeway:
        raise TokenExpired(
            f"the token expired {math.floor(now - exp)} s ago (leeway {leeway} s);"
            " check that the server's clock is right"
        )
    if iat > now + leeway:
        raise TokenNotYetValid(
            f"the token was issued {math.ceil(iat - now)} s in the future (leeway {leeway} s);"
            " check that the server's clock is right"
        )
    if nbf is not None and nbf > now + leeway:
        raise TokenNotYetValid(f"the token is not valid before its nbf (leeway {leeway} s)")
    longest = MAX_LIFETIME + leeway
    if exp - iat > longest:
        raise TokenLifetimeTooLong(
            f"the token's exp lies {exp - iat} s after its iat; at most {MAX_LIFETIME} s"
            f" (leeway {leeway} s) are accepted"
        )
    if exp > now + longest:
        raise TokenLifetimeTooLong(
            f"the token's exp lies {math.ceil(exp - now)} s from now; at most {MAX_LIFETIME} s"
            f" (leeway {leeway} s) are accepted; check that the server's clock is right"
        )


@functools.lru_cache(maxsize=64)
def load_rsa_public_key(pem: str | bytes) -> RSAPublicKey:
    """The RSA public key of a PEM document; ValueError for anything else."""
    try:
        key = load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError("not a PEM public key") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def _time_claim(claims: Mapping[str, Any], name: str, now: float) -> int:
    """A time claim in whole seconds (a fraction is floored), within `TIME_WINDOW` of `now`."""
    value = claims.get(name)
    if value is None:
        raise MissingClaim(f"the token has no {name} claim")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _malformed(f"the token's {name} claim is not a number of seconds")
    if abs(value - now) > TIME_WINDOW:
        raise TimeClaimOutOfRange(
            f"the token's {name} claim is not a time within ten years of now;"
            " check that the server's clock is right"
        )
    return math.floor(value)


def _b64decode(segment: bytes, name: str) -> bytes:
    if len(segment) % 4 == 1 or not _BASE64URL.fullmatch(segment):
        _malformed(f"the token's {name} is not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        _malformed(f"the token's {name} is not base64url")
    if base64.urlsafe_b64encode(data).rstrip(b"=") != segment:
        _malformed(f"the token's {name} is not canonical base64url")
    return data


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except (ValueError, RecursionError):
        _malformed(f"the token's {name} is not JSON")
    if not isinstance(value, dict):
        _malformed(f"the token's {name} is not a JSON object")
    return value


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# json.loads(..., parse_constant=...) builds a new decoder on every call; one does for all.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _malformed(reason: str) -> NoReturn:
    raise MalformedToken(reason)
