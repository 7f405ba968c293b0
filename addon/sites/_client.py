"""Calling a connected site's Jira: `ATLASSIAN_API_URL/ex/jira/{cloudId}` with the site's access
token, fetched (and refreshed when it is about to expire) before each request.

The same rules as the Connect client (`addon.jira.JiraAuth`): requests stay on the gateway's
origin, same-site redirects are re-signed, 429 and 503 are retried after `Retry-After`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from urllib.parse import quote

import httpx

from addon.jira import DEFAULT_TIMEOUT, JiraAuth, check_base_url

__all__ = ["BearerTokenAuth", "gateway_url", "site_jira_client"]


def gateway_url(api_url: str, cloud_id: str) -> str:
    """The base URL of a site's REST API through Atlassian's gateway."""
    return f"{api_url.rstrip('/')}/ex/jira/{quote(cloud_id, safe='')}"


class BearerTokenAuth(JiraAuth):
    """Signs each request with `Authorization: Bearer <the site's current access token>`."""

    def __init__(self, base_url: str, token: Callable[[], Awaitable[str]]) -> None:
        super().__init__(base_url)
        self._token_source = token
        self._token = ""

    def authorize(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self._token = await self._token_source()
        flow = super().async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return


def site_jira_client(
    base_url: str,
    token: Callable[[], Awaitable[str]],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for one site's REST API at `base_url`, with the token `token` hands out."""
    check_base_url(base_url)
    auth = BearerTokenAuth(base_url, token)
    return httpx.AsyncClient(
        base_url=auth.base_url,
        auth=auth,
        transport=transport,
        follow_redirects=False,
        timeout=DEFAULT_TIMEOUT,
        headers={"Accept": "application/json"},
    )
