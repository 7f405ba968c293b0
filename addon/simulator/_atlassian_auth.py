"""The fake Atlassian's authorization server: the consent page, the token endpoint with rotating
refresh tokens, and the access tokens the API gateway accepts.

Rotating refresh tokens (Atlassian, "Updated: 31 January 2022 - Action required - Deprecating
persistent refresh tokens", community.developer.atlassian.com/t/54172): each refresh spends the
token sent; a spent token works again only within a 10-minute leeway, and reused later it
"invalidates all refresh tokens, and requires the user to re-consent"; every token of a consent
ends 365 days after it, and one unused for 90 days expires. Access tokens last an hour. A refused
grant answers 403 `{"error": "invalid_grant"}` (nango.dev, "Jira OAuth refresh token
invalid_grant").
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

__all__ = ["LEEWAY_SECONDS", "FakeAuthorization", "error"]

DAY = 24 * 3600.0
LEEWAY_SECONDS = 600.0
ACCESS_TOKEN_SECONDS = 3600.0
REFRESH_INACTIVITY_SECONDS = 90 * DAY
REFRESH_ABSOLUTE_SECONDS = 365 * DAY
CODE_SECONDS = 600.0


@dataclass(slots=True)
class _Family:
    """The tokens of one consent."""

    scopes: tuple[str, ...]
    ends_at: float
    revoked: bool = False


@dataclass(slots=True)
class _RefreshToken:
    family: int
    last_used_at: float
    spent_at: float | None = None


class FakeAuthorization:
    """Consents, codes and tokens of one OAuth 2.0 app, on the fake's clock and lock."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        leeway: float,
        clock: Callable[[], float],
        lock: threading.RLock,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.leeway = leeway
        self.refreshes = 0
        self.token_calls = 0
        self._clock = clock
        self._lock = lock
        self._codes: dict[str, tuple[str, tuple[str, ...], float]] = {}
        self._families: dict[int, _Family] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._access: dict[str, tuple[int, float]] = {}
        self._ids = itertools.count(1)

    def revoke(self) -> None:
        """The user revokes the app's consent: every refresh token is refused from now on."""
        with self._lock:
            for family in self._families.values():
                family.revoked = True

    def revoke_access_token(self, token: str) -> None:
        """Atlassian stops honouring this access token before it expires (the API answers 401)."""
        with self._lock:
            self._access.pop(token, None)

    def live_refresh_tokens(self) -> list[str]:
        """Refresh tokens that are not spent, of consents still granted."""
        with self._lock:
            return [
                token
                for token, state in self._refresh.items()
                if state.spent_at is None and not self._families[state.family].revoked
            ]

    async def authorize(self, request: Request) -> Response:
        """Approves at once, for every site, and redirects back with a code and the state."""
        query = request.query_params
        problems = [
            name
            for name, wanted in (
                ("audience", "api.atlassian.com"),
                ("client_id", self.client_id),
                ("response_type", "code"),
            )
            if query.get(name) != wanted
        ]
        if not query.get("redirect_uri") or not query.get("state"):
            problems.append("redirect_uri and state")
        if problems:
            return error(400, "invalid_request", f"wrong or missing: {', '.join(problems)}")
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (
                query["redirect_uri"],
                tuple(query.get("scope", "").split()),
                self._clock() + CODE_SECONDS,
            )
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "invalid_request", "the body is not JSON")
        if not isinstance(body, dict):
            return error(400, "invalid_request", "the body is not a JSON object")
        if body.get("client_id") != self.client_id or not secrets.compare_digest(
            str(body.get("client_secret", "")).encode(), self._client_secret.encode()
        ):
            return error(401, "access_denied", "Unauthorized")
        with self._lock:
            self.token_calls += 1
            if body.get("grant_type") == "authorization_code":
                return self._exchange(body)
            if body.get("grant_type") == "refresh_token":
                return self._rotate(str(body.get("refresh_token", "")))
        return error(400, "unsupported_grant_type", "grant_type is not supported")

    def _exchange(self, body: Mapping[str, Any]) -> Response:
        entry = self._codes.pop(str(body.get("code", "")), None)
        if entry is None or entry[2] < self._clock() or entry[0] != body.get("redirect_uri"):
            return error(403, "invalid_grant", "Invalid authorization code")
        family = next(self._ids)
        self._families[family] = _Family(entry[1], self._clock() + REFRESH_ABSOLUTE_SECONDS)
        return self._issue(family)

    def _rotate(self, token: str) -> Response:
        state = self._refresh.get(token)
        now = self._clock()
        if state is None:
            return error(403, "invalid_grant", "Unknown or invalid refresh token.")
        family = self._families[state.family]
        if state.spent_at is not None and now > state.spent_at + self.leeway:
            family.revoked = True  # reuse outside the leeway ends the whole consent
        if (
            family.revoked
            or now > family.ends_at
            or now > state.last_used_at + REFRESH_INACTIVITY_SECONDS
        ):
            return error(403, "invalid_grant", "Unknown or invalid refresh token.")
        if state.spent_at is None:
            state.spent_at = now
        self.refreshes += 1
        return self._issue(state.family)

    def _issue(self, family: int) -> Response:
        access = secrets.token_urlsafe(24)
        self._access[access] = (family, self._clock() + ACCESS_TOKEN_SECONDS)
        scopes = self._families[family].scopes
        answer = {
            "access_token": access,
            "expires_in": int(ACCESS_TOKEN_SECONDS),
            "token_type": "Bearer",
            "scope": " ".join(scopes),
        }
        if "offline_access" in scopes:  # a refresh token only for offline access
            refresh = secrets.token_urlsafe(24)
            self._refresh[refresh] = _RefreshToken(family, self._clock())
            answer["refresh_token"] = refresh
        return JSONResponse(answer)

    def scopes_of(self, request: Request) -> tuple[str, ...] | None:
        """The scopes of the request's access token; None if it has no valid one."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        entry = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry[1] < self._clock():
            return None
        family = self._families[entry[0]]
        return None if family.revoked else family.scopes


def error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
