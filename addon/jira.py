"""Calling Jira back, the part every door shares: an `httpx.Auth` that keeps a client on its site.

Each door's signing extends `JiraAuth` with `sign` (a Connect JWT, a bearer token ...). The base
does what does not depend on the signature:

* A request to another origin (scheme, host and port) than the site's raises
  `CrossOriginRequest` before anything is sent.
* Redirects within the site are followed (at most `MAX_REDIRECTS`), each hop signed for its own
  path. A redirect to another origin is never followed: the 3xx response is returned as it is, so
  that no credential ever leaves the site.
* 429 and 503 answers are retried at most `max_retries` times, after `Retry-After` (seconds or an
  HTTP date; 1, 2, 4 ... s when absent), re-signed. When the wait asked for exceeds `max_wait`,
  or the retries are used up, the last 429/503 response is returned.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from datetime import UTC

import httpx

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "CrossOriginRequest",
    "JiraAuth",
    "check_base_url",
    "retry_after_seconds",
]

DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_WAIT = 30.0
DEFAULT_TIMEOUT = 10.0
MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({429, 503})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_DEFAULT_PORTS = {"http": 80, "https": 443}


class CrossOriginRequest(ValueError):
    """A request to another origin than the site's: it would carry the site's token there."""


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


def check_base_url(base_url: str) -> None:
    """ValueError unless `base_url` is an http(s) URL with a host."""
    parsed = httpx.URL(base_url)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host:
        raise ValueError(f"{base_url!r} is not an http(s) base URL")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


class JiraAuth(httpx.Auth):
    """Keeps every request (and each same-site redirect and retry) on one site, signed by
    `authorize`, which a door's signing implements; async only."""

    requires_request_body = True

    def __init__(
        self,
        base_url: str,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_retries < 0 or max_wait < 0:
            raise ValueError("max_retries and max_wait must not be negative")
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(httpx.URL(self.base_url))
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock

    def authorize(self, request: httpx.Request) -> None:
        """Set the request's credentials (its `Authorization` header)."""
        raise NotImplementedError

    def sign(self, request: httpx.Request) -> None:
        """`authorize` a request to the site; `CrossOriginRequest` for any other origin."""
        if _origin(request.url) != self._origin:
            raise CrossOriginRequest(
                f"{request.method} {request.url.copy_with(query=None)} is not on the site"
                f" {self.base_url}; the client signs requests to its own site only"
            )
        self.authorize(request)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError(f"{type(self).__name__} signs for httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # Overriding the flow drops httpx's own reading of the body that `requires_request_body`
        # asks for; without it a streamed body could not be sent again after a redirect or retry.
        await request.aread()
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
            for name in ("Content-Length", "Transfer-Encoding"):  # set anew for the read body
                headers.pop(name, None)
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
