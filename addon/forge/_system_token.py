"""The app's system token, as Forge hands it over in `x-forge-oauth-system`.

Forge sends it when the endpoint has `auth.appSystemToken.enabled: true` ("Forge Remote
essentials"); Atlassian asks that it be treated as opaque. Its expiry is its JWT `exp` when it
decodes as a JWT (read, never trusted for anything else), else a conservative 55 minutes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from dataclasses import dataclass, field

from addon.forge._errors import MalformedSystemToken

__all__ = ["SYSTEM_TOKEN_HEADER", "SystemToken", "read_system_token"]

SYSTEM_TOKEN_HEADER = "x-forge-oauth-system"
FALLBACK_LIFETIME = 55 * 60
MAX_SYSTEM_TOKEN_LENGTH = 16 * 1024

_TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~+/=]+")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


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
    """The `exp` of a token that reads as a JWT (header and claims JSON objects), else None."""
    parts = value.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts[:2]):
        return None
    try:
        header, claims = (
            json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in parts[:2]
        )
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return float(exp)
