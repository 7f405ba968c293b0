"""Verifying a Forge Invocation Token (FIT) into the invocation it proves.

The rules ("Forge Remote essentials", https://developer.atlassian.com/platform/forge/remote/essentials/,
and issue 18): RS256 only, whatever the header says (`none`, HS256 and everything else refused,
before any key is looked up); a `kid` found in Atlassian's JWKS; the signature; `iss` =
`forge/invocation-token`; `aud` = the app's id exactly; `exp`, `nbf`, `iat` within the leeway; no
`icLabel` (Isolated Cloud needs per-app JWKS URLs we do not have); `app.installationId` and
`app.apiBaseUrl` present.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import DecodeError, InvalidAlgorithmError, InvalidSignatureError

from addon.auth import (
    AlgorithmNotAllowed,
    InvalidKeyId,
    InvalidSignature,
    JwksCache,
    MalformedToken,
    MissingClaim,
    MissingKeyId,
    TokenExpired,
    TokenNotYetValid,
)
from addon.forge._errors import (
    IsolatedCloudUnsupported,
    MalformedAuthorization,
    MissingInvocationToken,
    NotAnInvocationToken,
    WrongAudience,
)

__all__ = ["FIT_ISSUER", "Invocation", "bearer_token", "verify_invocation"]

FIT_ISSUER = "forge/invocation-token"
MAX_TOKEN_LENGTH = 16 * 1024
MAX_ID_LENGTH = 255
MAX_URL_LENGTH = 2048
MAX_KID_LENGTH = 200

_JWS = jwt.PyJWS(algorithms=["RS256"])
_CLOUD_ID_IN_URL = re.compile(r"/ex/[a-z-]+/([0-9a-fA-F-]{8,64})(?:/|$)")
_SHOWABLE = re.compile(r"[A-Za-z0-9+._-]{1,20}")


@dataclass(frozen=True, slots=True)
class Invocation:
    """What a verified FIT says: which installation of the app called, from which site.

    `claims` are the token's decoded claims (a FIT carries no secret; the inspector may show
    them); the token itself is not kept.
    """

    installation_id: str
    api_base_url: str
    cloud_id: str | None
    app_id: str
    app_version: str | None
    environment_type: str | None
    environment_id: str | None
    module_key: str | None
    principal: str | None
    site_url: str | None
    kid: str
    token_id: str | None
    expires_at: float
    claims: Mapping[str, Any] = field(repr=False, hash=False)


def bearer_token(authorization: str | None) -> str:
    """The FIT of an `Authorization: Bearer <FIT>` header, else the refusal saying what is wrong."""
    if authorization is None or not authorization.strip():
        raise MissingInvocationToken(
            "no Authorization header; Forge sends `Authorization: Bearer <invocation token>`"
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MalformedAuthorization(
            "the Authorization header is not `Bearer <token>`; this route takes Forge"
            " invocation tokens only"
        )
    token = token.strip()
    if not token:
        raise MalformedAuthorization("the Authorization header's Bearer token is empty")
    return token


async def verify_invocation(
    token: str,
    *,
    app_id: str,
    keys: JwksCache,
    leeway: int,
    now: float | None = None,
) -> Invocation:
    """The invocation a FIT proves, or the refusal naming the first rule it breaks."""
    if len(token) > MAX_TOKEN_LENGTH:
        _malformed(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        _malformed("the token is not three base64url segments of JSON with a JWS header")
    alg = header.get("alg")
    if alg != "RS256":
        shown = (
            f"alg {alg}" if isinstance(alg, str) and _SHOWABLE.fullmatch(alg) else "no usable alg"
        )
        raise AlgorithmNotAllowed(
            f"the token has {shown}; Forge invocation tokens are RS256 and nothing else is accepted"
        )
    if "crit" in header:
        _malformed("the token has critical header extensions (crit), which are not supported")
    kid = header.get("kid")
    if kid is None or kid == "":
        raise MissingKeyId("the token has no kid header naming the Forge key that signed it")
    if not isinstance(kid, str) or len(kid) > MAX_KID_LENGTH:
        raise InvalidKeyId(
            f"the token's kid is not a string of at most {MAX_KID_LENGTH} characters"
        )
    key = await keys.key(kid)
    try:
        decoded = _JWS.decode_complete(token, key.key, algorithms=["RS256"])
    except InvalidSignatureError:
        raise InvalidSignature(
            f"the signature does not match Forge's key {kid!r}; the token was not signed by"
            " Atlassian"
        ) from None
    except (InvalidAlgorithmError, DecodeError):
        _malformed("the token cannot be decoded as an RS256 JWS")
    claims = _claims(decoded["payload"])
    _check_claims(claims, app_id=app_id, leeway=leeway, now=time.time() if now is None else now)
    return _invocation(claims, kid)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        _malformed("the token's claims are not JSON")
    if not isinstance(value, dict):
        _malformed("the token's claims are not a JSON object")
    return value


def _check_claims(claims: Mapping[str, Any], *, app_id: str, leeway: int, now: float) -> None:
    issuer = claims.get("iss")
    if issuer != FIT_ISSUER:
        raise NotAnInvocationToken(
            f"the token's iss is {_describe(issuer)}, not {FIT_ISSUER!r}: it is not a Forge"
            " invocation token"
        )
    audience = claims.get("aud")
    if audience != app_id:
        raise WrongAudience(
            f"the token's aud is {_describe(audience)}, not this app's FORGE_APP_ID {app_id!r};"
            " it was issued for another Forge app"
        )
    _check_times(claims, leeway=leeway, now=now)
    if "icLabel" in claims:
        raise IsolatedCloudUnsupported(
            "the token carries icLabel: the call comes from an Isolated Cloud, which this server"
            " does not support (it would need the Isolated Cloud's own key set)"
        )
    app = claims.get("app")
    if not isinstance(app, Mapping):
        raise MissingClaim("the token has no app claim")
    installation_id = app.get("installationId")
    if not isinstance(installation_id, str) or not installation_id:
        raise MissingClaim("the token has no app.installationId")
    if len(installation_id) > MAX_ID_LENGTH:
        _malformed(f"the token's app.installationId is longer than {MAX_ID_LENGTH} characters")
    api_base_url = app.get("apiBaseUrl")
    if not isinstance(api_base_url, str) or not api_base_url:
        raise MissingClaim("the token has no app.apiBaseUrl")
    parts = urlsplit(api_base_url)
    if len(api_base_url) > MAX_URL_LENGTH or parts.scheme != "https" or not parts.hostname:
        _malformed("the token's app.apiBaseUrl is not an https URL")


def _check_times(claims: Mapping[str, Any], *, leeway: int, now: float) -> None:
    exp = _time(claims, "exp", required=True)
    iat = _time(claims, "iat", required=True)
    nbf = _time(claims, "nbf", required=False)
    assert exp is not None and iat is not None
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
        raise TokenNotYetValid(
            f"the token is not valid for another {math.ceil(nbf - now)} s (nbf, leeway"
            f" {leeway} s); check that the server's clock is right"
        )


def _time(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise MissingClaim(f"the token has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _malformed(f"the token's {name} claim is not a number of seconds")
    return float(value)


def _invocation(claims: Mapping[str, Any], kid: str) -> Invocation:
    app: Mapping[str, Any] = claims["app"]
    environment = _mapping(app.get("environment"))
    module = _mapping(app.get("module"))
    context = _mapping(claims.get("context"))
    api_base_url: str = app["apiBaseUrl"]
    return Invocation(
        installation_id=app["installationId"],
        api_base_url=api_base_url.rstrip("/"),
        cloud_id=_cloud_id(app, api_base_url),
        app_id=str(claims["aud"]),
        app_version=_text(app.get("appVersion")) or _text(app.get("version")),
        environment_type=_text(environment.get("type")),
        environment_id=_text(environment.get("id")),
        module_key=_text(module.get("key")),
        principal=_text(claims.get("principal")),
        site_url=_text(context.get("siteUrl")),
        kid=kid,
        token_id=_text(claims.get("jti")),
        expires_at=float(claims["exp"]),
        claims=claims,
    )


def _cloud_id(app: Mapping[str, Any], api_base_url: str) -> str | None:
    """The site's cloudId: from `app.installation.contexts`, else from the API base URL."""
    installation = _mapping(app.get("installation"))
    contexts = installation.get("contexts")
    if isinstance(contexts, list):
        for context in contexts:
            cloud_id = _text(_mapping(context).get("cloudId"))
            if cloud_id is not None:
                return cloud_id
    found = _CLOUD_ID_IN_URL.search(urlsplit(api_base_url).path)
    return found.group(1) if found else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value[:MAX_URL_LENGTH] if isinstance(value, str) and value else None


def _describe(value: object) -> str:
    if value is None:
        return "missing"
    text = repr(value)
    return text if len(text) <= 120 else text[:120] + "..."


def _malformed(reason: str) -> NoReturn:
    raise MalformedToken(reason)
