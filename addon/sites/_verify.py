"""A site delivery's bearer token: an HS256 JWT Jira signs with the OAuth app's client secret.

Atlassian documents no claims for it ("Webhooks authentication for OAuth 2.0 apps"); the
integrations we found verify the signature and `exp` (../notes C2: lobu-ai/lobu #2754,
QuackbackIO/quackback #366). `exp` and `iat` are checked when present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from addon.sites._errors import (
    ConnectToken,
    ExpiredToken,
    FutureToken,
    MalformedToken,
    MissingToken,
    WrongAlgorithm,
    WrongSignature,
)

__all__ = ["verify_delivery_token"]

ALGORITHM = "HS256"


def verify_delivery_token(
    authorization: str | None, *, secret: str, now: float, leeway: float
) -> Mapping[str, Any]:
    """The verified claims of `Authorization: Bearer <JWT>`, or the refusal that says why not."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() == "jwt":
        raise ConnectToken("a Connect JWT (Authorization: JWT ...) is not a site delivery's token")
    if scheme.lower() != "bearer" or not token:
        raise MissingToken("no Authorization: Bearer token")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise MalformedToken("the bearer token is not a JWT") from None
    if header.get("alg") != ALGORITHM:
        raise WrongAlgorithm(f"the token's algorithm is {str(header.get('alg'))[:20]!r}, not HS256")
    if "qsh" in unverified:
        raise ConnectToken("a Connect JWT (it has a qsh) is not a site delivery's token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        raise WrongSignature("the token is not signed with this app's client secret") from None
    except jwt.InvalidTokenError:
        raise MalformedToken("the bearer token is not a valid JWT") from None
    for name in ("exp", "iat"):
        if name in claims and not isinstance(claims[name], int | float):
            raise MalformedToken(f"the token's {name} is not a number")
    if "exp" in claims and claims["exp"] + leeway < now:
        raise ExpiredToken("the token has expired")
    if "iat" in claims and claims["iat"] - leeway > now:
        raise FutureToken("the token was issued in the future")
    return claims
