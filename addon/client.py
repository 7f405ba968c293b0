"""Calling Jira back: an `httpx.AsyncClient` that signs every request with a Connect JWT.

    async with client_for_tenant(tenant, settings.key) as jira:
        response = await jira.get("/rest/api/3/issue/PRJ-1")

Each request gets its own token, made once its final URL is known: HS256 with the tenant's
shared secret, `iss` = the add-on's key, `iat`, `exp` = `iat` + 180 s, and a `qsh` over the
method, the path relative to the site's base URL path, and the query (`addon.auth`'s functions,
the same the server verifies with). It is sent as `Authorization: JWT <token>`.

* Relative URLs resolve against the site's base URL, its path included. A request to any other
  origin (scheme, host and port) raises `CrossOriginRequest` before anything is sent.
* Redirects within the site are followed (at most `MAX_REDIRECTS`), each hop signed for its own
  path. A redirect to another origin is never followed: the 3xx response is returned as it is, so
  that no token ever leaves the site; fetch its `Location` yourself with a client of your own,
  without credentials (Jira's attachment downloads redirect to a media host this way).
* 429 and 503 answers are retried at most `max_retries` times, after `Retry-After` (seconds or an
  HTTP date; 1, 2, 4 ... s when absent), re-signed. When the wait asked for exceeds `max_wait`,
  or the retries are used up, the last 429/503 response is returned; nothing is raised, so
  `response.raise_for_status()` is the caller's choice.

Leave `follow_redirects` off on requests: this client's own redirect handling is what re-signs.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from datetime import UTC

import httpx

from addon.auth import encode_hs256, query_string_hash
from addon.store import Tenant

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_WAIT",
    "MAX_REDIRECTS",
    "TOKEN_LIFETIME",
    "ConnectJwtAuth",
    "CrossOriginRequest",
    "client_for_tenant",
    "connect_token",
    "jira_client",
    "retry_after_seconds",
]

TOKEN_LIFETIME = 180
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_WAIT = 30.0
DEFAULT_TIMEOUT = 10.0
MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({429, 503})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_DEFAULT_PORTS = {"http": 80, "https": 443}


class CrossOriginRequest(ValueError):
    """A request to another origin than the site's: it would carry the site's token there."""


def connect_token(
    method: str,
    url: httpx.URL,
    *,
    base_url: str,
    shared_secret: str,
    addon_key: str,
    now: float | None = None,
) -> str:
    """The Connect JWT for one request to Jira (qsh over `url`'s raw path and query)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": addon_key,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME,
        "qsh": query_string_hash(method, url.raw_path.decode("ascii"), base_url),
    }
    return encode_hs256(claims, shared_secret)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """The wait a `Retry-After` header asks for (delay-seconds or HTTP-date), or None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


class ConnectJwtAuth(httpx.Auth):
    """Signs each request (and each same-site redirect and retry) for one site; async only."""

    requires_request_body = True

    def __init__(
        self,
        base_url: str,
        shared_secret: str,
        addon_key: str,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not shared_secret:
            raise ValueError("a shared secret is needed to sign requests to Jira")
        if not addon_key:
            raise ValueError("the add-on key is needed to sign requests to Jira")
        if max_retries < 0 or max_wait < 0:
            raise ValueError("max_retries and max_wait must not be negative")
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(httpx.URL(self.base_url))
        self._secret = shared_secret
        self._key = addon_key
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock

    def sign(self, request: httpx.Request) -> None:
        if _origin(request.url) != self._origin:
            raise CrossOriginRequest(
                f"{request.method} {request.url.copy_with(query=None)} is not on the site"
                f" {self.base_url}; the client signs requests to its own site only"
            )
        token = connect_token(
            request.method,
            request.url,
            base_url=self.base_url,
            shared_secret=self._secret,
            addon_key=self._key,
            now=self._clock(),
        )
        request.headers["Authorization"] = f"JWT {token}"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("ConnectJwtAuth signs for httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        redirects = retries = 0
        while True:
            self.sign(request)
            response = yield request
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                following = self._redirect(request, response)
                if following is None or redirects >= MAX_REDIRECTS:
                    return
                request, redirects = following, redirects + 1
                continue
            if response.status_code in RETRY_STATUSES and retries < self._max_retries:
                wait = retry_after_seconds(response.headers.get("retry-after"), now=self._clock())
                if wait is None:
                    wait = float(2**retries)
                if wait > self._max_wait:
                    return
                await self._sleep(wait)
                retries += 1
                continue
            return

    def _redirect(self, request: httpx.Request, response: httpx.Response) -> httpx.Request | None:
        """The next request of a same-site redirect; None for a redirect elsewhere."""
        try:
            location = request.url.join(response.headers["location"])
        except httpx.InvalidURL:
            return None
        if _origin(location) != self._origin:
            return None
        method = _redirect_method(request.method, response.status_code)
        headers = httpx.Headers(request.headers)
        headers.pop("Authorization", None)
        if response.status_code in (307, 308):
            return httpx.Request(
                method,
                location,
                headers=headers,
                content=request.content,
                extensions=request.extensions,
            )
        for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
            headers.pop(name, None)
        return httpx.Request(method, location, headers=headers, extensions=request.extensions)


def _redirect_method(method: str, status: int) -> str:
    """As browsers and httpx do: 303 becomes GET, and so does a POST answered 301 or 302."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET"
    return method


def jira_client(
    base_url: str,
    shared_secret: str,
    addon_key: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_wait: float = DEFAULT_MAX_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """A client for one site's REST API (its `baseUrl`), signing every request for `addon_key`."""
    parsed = httpx.URL(base_url)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host:
        raise ValueError(f"{base_url!r} is not an http(s) base URL")
    auth = ConnectJwtAuth(
        base_url, shared_secret, addon_key, max_retries=max_retries, max_wait=max_wait
    )
    return httpx.AsyncClient(
        base_url=auth.base_url,
        auth=auth,
        transport=transport,
        follow_redirects=False,
        timeout=timeout,
        headers={"Accept": "application/json"},
    )


def client_for_tenant(
    tenant: Tenant,
    addon_key: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_wait: float = DEFAULT_MAX_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """`jira_client` for an installed tenant; ValueError for one that is uninstalled."""
    if tenant.shared_secret is None:
        raise ValueError(
            f"tenant {tenant.client_key} is uninstalled: there is no shared secret to sign with"
        )
    return jira_client(
        tenant.base_url,
        tenant.shared_secret,
        addon_key,
        transport=transport,
        max_retries=max_retries,
        max_wait=max_wait,
        timeout=timeout,
    )
