"""Calling a connected site's Jira: `ATLASSIAN_API_URL/ex/jira/{cloudId}` with the site's access
token, fetched (and refreshed when it is about to expire) before each request.

The same rules as the Connect client (`addon.jira.JiraAuth`): requests stay on the gateway's
origin, same-site redirects are re-signed, 429 and 503 are retried after `Retry-After`. A 401
(Atlassian revoked or expired the token early) refreshes the token once, through the source, and
sends the request again; a second 401 is returned as it is.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from typing import Protocol
from urllib.parse import quote

import httpx

from addon.jira import DEFAULT_TIMEOUT, JiraAuth, check_base_url

__all__ = ["BearerTokenAuth", "TokenSource", "gateway_url", "site_jira_client"]


def gateway_url(api_url: str, cloud_id: str) -> str:
    """The base URL of a site's REST API through Atlassian's gateway."""
    return f"{api_url.rstrip('/')}/ex/jira/{quote(cloud_id, safe='')}"


class TokenSource(Protocol):
    """The site's current access token; with `rejected`, one newer than that refused token."""

    def __call__(self, *, rejected: str | None = None) -> Awaitable[str]: ...


class BearerTokenAuth(JiraAuth):
    """Signs each request with `Authorization: Bearer <the site's current access token>`."""

    def __init__(self, base_url: str, token: TokenSource) -> None:
        super().__init__(base_url)
        self._token_source = token
        self._token = ""

    def authorize(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # `JiraAuth` replaces httpx's own flow, which would read the body for
        # `requires_request_body`: read it here, so that a streamed body can be sent again.
        await request.aread()
        self._token = await self._token_source()
        retried = False
        flow = super().async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            if response.status_code == 401 and not retried:
                # The same request again (its body was read above), signed with the new token.
                retried = True
                await flow.aclose()
                self._token = await self._token_source(rejected=self._token)
                flow = super().async_auth_flow(outgoing)
                outgoing = await flow.__anext__()
                continue
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return


def site_jira_client(
    base_url: str,
    token: TokenSource,
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
