"""Calling Jira as the Forge app: `Authorization: Bearer <system token>` to the installation's
`app.apiBaseUrl` ("Calling Atlassian app APIs from a remote"), under the rules every door's client
keeps (`addon.jira.JiraAuth`: its own origin only, no cross-host redirect with the token, 429/503
after `Retry-After`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from addon.handlers import NoJiraClient
from addon.jira import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT,
    DEFAULT_TIMEOUT,
    JiraAuth,
    check_base_url,
)

__all__ = ["NoSystemToken", "SystemTokenAuth", "forge_client"]


class NoSystemToken(NoJiraClient):
    """The installation has no unexpired system token to call Jira with."""


class SystemTokenAuth(JiraAuth):
    """Signs each request (and each same-origin redirect and retry) with the app's system token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise ValueError("a system token is needed to call Jira as the Forge app")
        super().__init__(
            base_url, max_retries=max_retries, max_wait=max_wait, sleep=sleep, clock=clock
        )
        self._token = token

    def authorize(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"


def forge_client(
    api_base_url: str,
    token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_wait: float = DEFAULT_MAX_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """A client for one installation's API base URL (`https://api.atlassian.com/ex/jira/<cloudId>`):
    relative URLs such as `/rest/api/3/myself` go there, with the system token."""
    check_base_url(api_base_url)
    auth = SystemTokenAuth(api_base_url, token, max_retries=max_retries, max_wait=max_wait)
    return httpx.AsyncClient(
        base_url=auth.base_url,
        auth=auth,
        transport=transport,
        follow_redirects=False,
        timeout=timeout,
        headers={"Accept": "application/json"},
    )
