"""Verifying the Connect JWTs on Jira's requests: shared-secret tokens and signed installs."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import (
    AmbiguousToken,
    AudienceMismatch,
    ContextQshRefused,
    IssuerMismatch,
    KeyServerUnavailable,
    MalformedToken,
    MissingClaim,
    MissingToken,
    QshMismatch,
    UnknownTenant,
)
from ._keys import check_kid
from ._qsh import canonical_request, sha256_hex
from ._tokens import (
    ParsedToken,
    check_header,
    check_hs256,
    check_rs256,
    load_rsa_public_key,
    parse_token,
)

__all__ = ["VerifiedToken", "extract_token", "verify_install", "verify_symmetric"]

CONTEXT_QSH = "context-qsh"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,19}")


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token that passed verification, and the canonical request its qsh was checked against."""

    header: dict[str, Any]
    claims: dict[str, Any]
    canonical_request: str
    qsh_expected: str

    @property
    def client_key(self) -> str:
        """The tenant's clientKey (the `iss` claim)."""
        return str(self.claims["iss"])

    @property
    def issued_at(self) -> int:
        """The `iat` claim in whole seconds (verification checked it is a time near now)."""
        return math.floor(float(self.claims["iat"]))

    @property
    def expires_at(self) -> int:
        """The `exp` claim in whole seconds."""
        return math.floor(float(self.claims["exp"]))


def extract_token(authorization: str | None, query_jwt: str | None) -> str:
    """The JWT of a request, from `Authorization: JWT <token>` or the `jwt` query parameter."""
    header_token: str | None = None
    other_scheme: str | None = None
    parts = authorization.split() if authorization else []
    if parts and parts[0].lower() == "jwt":
        if len(parts) == 1:
            raise MissingToken("the Authorization header says JWT but carries no token")
        if len(parts) > 2:
            raise MalformedToken("the Authorization header must be 'JWT <token>'")
        header_token = parts[1]
    elif parts:
        named = len(parts) == 2 and _SCHEME.fullmatch(parts[0])
        other_scheme = f"'{parts[0]}'" if named else "another scheme"
    query_token = query_jwt or None
    if header_token is not None and query_token is not None and header_token != query_token:
        raise AmbiguousToken(
            "the Authorization header and the jwt query parameter carry different tokens; send one"
        )
    token = header_token or query_token
    if token is None:
        if other_scheme is not None:
            raise MissingToken(
                f"the Authorization header uses {other_scheme}; the scheme must be JWT"
                " ('Authorization: JWT <token>')"
            )
        raise MissingToken("no JWT: send 'Authorization: JWT <token>' or a jwt query parameter")
    return token


async def verify_symmetric(
    token: str,
    *,
    method: str,
    url: str,
    base_url: str,
    secret_for: Callable[[str], Awaitable[str | None]],
    leeway: int,
    now: float | None = None,
) -> VerifiedToken:
    """Verify an HS256 token signed with the shared secret of the tenant named by its `iss`.

    `secret_for(client_key)` gives the tenant's shared secret, or None for no such tenant;
    its ServiceUnavailable (the database is down) propagates. The `qsh` must be bound to
    `method` and `url` (see `canonical_request`); a context JWT is refused.
    """
    parsed = parse_token(token)
    check_header(parsed, "HS256")
    client_key = _string_claim(parsed.claims, "iss", " (the tenant's clientKey)")
    secret = await secret_for(client_key)
    if secret is None:
        raise UnknownTenant(
            f"no installed tenant with clientKey {_show(client_key)}; is the app installed there?"
        )
    check_hs256(parsed, secret, leeway=leeway, now=now)
    return _check_qsh(parsed, method, url, base_url)


async def verify_install(
    token: str,
    *,
    method: str,
    url: str,
    base_url: str,
    addon_base_url: str,
    client_key: str,
    key_for: Callable[[str], Awaitable[str]],
    leeway: int,
    now: float | None = None,
) -> VerifiedToken:
    """Verify the RS256 token of an install or uninstall callback (signed install).

    `key_for(kid)` gives Atlassian's PEM public key for the token's `kid` (e.g.
    `InstallKeyFetcher.get`). The `aud` must name `addon_base_url`, the `iss` must be the
    `client_key` of the callback's payload, and the `qsh` must be bound to the request.
    """
    if not addon_base_url.rstrip("/"):
        raise ValueError("addon_base_url must be the app's baseUrl")
    parsed = parse_token(token)
    check_header(parsed, "RS256", "installs must be signed by Atlassian with RS256")
    kid = check_kid(parsed.header.get("kid"))
    pem = await key_for(kid)
    try:
        load_rsa_public_key(pem)
    except ValueError:
        raise KeyServerUnavailable(
            f"the install key for kid {kid!r} is not a PEM RSA public key"
        ) from None
    check_rs256(parsed, pem, leeway=leeway, now=now)
    _check_audience(parsed.claims, addon_base_url)
    issuer = _string_claim(parsed.claims, "iss", " (the tenant's clientKey)")
    if issuer != client_key:
        raise IssuerMismatch(
            f"the token's iss {_show(issuer)} is not the clientKey {_show(client_key)}"
            " of the install payload"
        )
    return _check_qsh(parsed, method, url, base_url)


def _check_audience(claims: Mapping[str, Any], addon_base_url: str) -> None:
    aud = claims.get("aud")
    if aud is None:
        raise MissingClaim("the install token has no aud claim naming this app's baseUrl")
    ours = addon_base_url.rstrip("/")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(entry, str) and entry.rstrip("/") == ours for entry in audiences):
        raise AudienceMismatch(
            f"the token is for {_show(aud)}, not for this app's baseUrl {ours!r};"
            " check the app's configured base URL"
        )


def _check_qsh(parsed: ParsedToken, method: str, url: str, base_url: str) -> VerifiedToken:
    qsh = parsed.claims.get("qsh")
    if qsh is None:
        raise MissingClaim("the token has no qsh claim binding it to this request")
    if qsh == CONTEXT_QSH:
        raise ContextQshRefused(
            "a context JWT (qsh 'context-qsh') is not accepted here:"
            " this endpoint needs a token bound to its URL"
        )
    canonical = canonical_request(method, url, base_url)
    expected = sha256_hex(canonical)
    if qsh != expected:
        raise QshMismatch(f"qsh does not match: expected canonical request {_printable(canonical)}")
    return VerifiedToken(parsed.header, parsed.claims, canonical, expected)


def _string_claim(claims: Mapping[str, Any], name: str, meaning: str = "") -> str:
    value = claims.get(name)
    if value is None or value == "":
        raise MissingClaim(f"the token has no {name} claim{meaning}")
    if not isinstance(value, str):
        raise MalformedToken(f"the token's {name} claim is not a string")
    return value


def _show(value: object, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _printable(text: str, limit: int = 500) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."
