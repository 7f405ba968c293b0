"""Calling Jira back: an `httpx.AsyncClient` that signs every request with a Connect JWT.

    async with client_for_tenant(tenant, settings.key) as jira:
        response = await jira.get("/rest/api/3/issue/PRJ-1")

Each request gets its own token, made once its final URL is known: HS256 with the tenant's
shared secret, `iss` = the add-on's key, `iat`, `exp` = `iat` + 180 s, and a `qsh` over the
method, the path relative to the site's base URL path, and the query (`addon.auth`'s functions,
the same the server verifies with). It is sent as `Authorization: JWT <token>`.

Relative URLs resolve against the site's base URL, its path included. What every door's client
shares (`addon.jira.JiraAuth`): no request to another origin, same-site redirects re-signed, a
redirect elsewhere returned as it is (fetch its `Location` yourself, without credentials: Jira's
attachment downloads redirect to a media host this way), 429 and 503 retried after
`Retry-After`; nothing is raised for a status, `response.raise_for_status()` is the caller's
choice.

Leave `follow_redirects` off on requests: this client's own redirect handling is what re-signs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from addon.auth import encode_hs256, query_string_hash
from addon.jira import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT,
    DEFAULT_TIMEOUT,
    JiraAuth,
    check_base_url,
)
from addon.store import Tenant

__all__ = ["TOKEN_LIFETIME", "ConnectJwtAuth", "client_for_tenant", "connect_token", "jira_client"]

TOKEN_LIFETIME = 180


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


class ConnectJwtAuth(JiraAuth):
    """Signs each request (and each same-site redirect and retry) for one site with a Connect JWT."""

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
        super().__init__(
            base_url, max_retries=max_retries, max_wait=max_wait, sleep=sleep, clock=clock
        )
        self._secret = shared_secret
        self._key = addon_key

    def authorize(self, request: httpx.Request) -> None:
        token = connect_token(
            request.method,
            request.url,
            base_url=self.base_url,
            shared_secret=self._secret,
            addon_key=self._key,
            now=self._clock(),
        )
        request.headers["Authorization"] = f"JWT {token}"


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
    check_base_url(base_url)
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
