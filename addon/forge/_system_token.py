"""The app's system token, as Forge hands it over in `x-forge-oauth-system`.

Forge sends it when the endpoint has `auth.appSystemToken.enabled: true` ("Forge Remote
essentials"); Atlassian asks that it be treated as opaque. Its expiry is its JWT `exp` when it
decodes as a JWT (read, never trusted for anything else), else a conservative 55 minutes.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import jwt

from addon.forge._errors import MalformedSystemToken

__all__ = ["SYSTEM_TOKEN_HEADER", "SystemToken", "read_system_token"]

SYSTEM_TOKEN_HEADER = "x-forge-oauth-system"
FALLBACK_LIFETIME = 55 * 60
MAX_SYSTEM_TOKEN_LENGTH = 16 * 1024

_TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~+/=]+")


@dataclass(frozen=True, slots=True)
class SystemToken:
    """A system token and when it expires (seconds since the epoch); `repr` never shows it."""

    value: str = field(repr=False)
    expires_at: float


def read_system_token(header: str | None, *, now: float | None = None) -> SystemToken | None:
    """The token of an `x-forge-oauth-system` header (None when absent)."""
    if header is None:
        return None
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":  # Atlassian shows it bare; accept a Bearer prefix too
        value = rest.strip()
    if not value:
        raise MalformedSystemToken(f"the {SYSTEM_TOKEN_HEADER} header is empty")
    if len(value) > MAX_SYSTEM_TOKEN_LENGTH:
        raise MalformedSystemToken(
            f"the {SYSTEM_TOKEN_HEADER} header is longer than {MAX_SYSTEM_TOKEN_LENGTH} characters"
        )
    if not _TOKEN_CHARACTERS.fullmatch(value):
        raise MalformedSystemToken(
            f"the {SYSTEM_TOKEN_HEADER} header has characters no OAuth token has"
        )
    issued = time.time() if now is None else now
    return SystemToken(value, _expiry(value) or issued + FALLBACK_LIFETIME)


def _expiry(value: str) -> float | None:
    try:
        claims = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return float(exp)
