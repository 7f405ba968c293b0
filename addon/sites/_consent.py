"""The start of a consent: Atlassian's authorize URL, and the state that ties its callback to the
admin's browser (random, single use, ten minutes, in the database so any instance completes it)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from addon.sites._errors import StateForeign, StateMissing
from addon.sites._store import SiteStore

__all__ = [
    "STATE_COOKIE",
    "STATE_SECONDS",
    "StateCookie",
    "authorize_url",
    "callback_url",
    "check_state",
    "start_consent",
]

STATE_COOKIE = "addon_oauth_state"
STATE_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class StateCookie:
    """The cookie that binds a state to the browser that started the consent.

    `SameSite=Lax`, not `Strict`: the callback is a top-level navigation from Atlassian's site,
    on which a `Strict` cookie would not be sent.
    """

    name: str
    value: str
    path: str
    max_age: int
    secure: bool
    httponly: bool = True
    samesite: str = "lax"


def callback_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/oauth/callback"


def authorize_url(
    auth_url: str, *, client_id: str, scopes: Sequence[str], base_url: str, state: str
) -> str:
    query = urlencode(
        {
            "audience": "api.atlassian.com",
            "client_id": client_id,
            "scope": " ".join(scopes),
            "redirect_uri": callback_url(base_url),
            "state": state,
            "response_type": "code",
            "prompt": "consent",
        }
    )
    return f"{auth_url.rstrip('/')}/authorize?{query}"


async def start_consent(store: SiteStore, *, base_url: str, now: float) -> StateCookie:
    """A new state, stored for ten minutes, and the cookie that carries it to the callback."""
    state = secrets.token_urlsafe(32)
    await store.put_state(state, now=now, seconds=STATE_SECONDS)
    parts = urlsplit(base_url)
    return StateCookie(
        name=STATE_COOKIE,
        value=state,
        path=callback_url(parts.path or "/").replace("//", "/"),
        max_age=int(STATE_SECONDS),
        secure=parts.scheme == "https",
    )


async def check_state(
    store: SiteStore, *, state: str | None, cookie: str | None, now: float
) -> None:
    """Refuse a callback whose state is missing, foreign to this browser, unknown, used or stale;
    otherwise use the state up."""
    if not state or not cookie:
        raise StateMissing(
            "the callback carries no state, or this browser has no consent under way;"
            " start again at /oauth/connect"
        )
    if not hmac.compare_digest(state.encode(), cookie.encode()):
        raise StateForeign("this consent was started in another browser; start again here")
    await store.consume_state(state, now=now)
