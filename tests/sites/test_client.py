"""The gateway client on a 401: one refresh through the token keeper, the request sent again once."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import httpx
import pytest

from addon.sites import NeedsReconnect, SiteStatus
from addon.sites._client import gateway_url, site_jira_client
from tests.sites.flow import flow_settings, serving
from tests.sites.support import Door, door, running_fake
from tests.sites.test_tokens import connected


class Counting(httpx.AsyncBaseTransport):
    """The real transport, counting what is sent and what each answer was."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, bytes, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        authorization = request.headers.get("authorization", "")
        self.sent.append((authorization, request.content, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def client(d: Door, url: str, cloud_id: str, transport: Counting) -> httpx.AsyncClient:
    """As `SiteDoor` builds it: the gateway URL, the keeper's token for the site."""
    token = functools.partial(d.tokens.access_token, cloud_id)
    return site_jira_client(gateway_url(url, cloud_id), token, transport=transport)


async def body() -> AsyncIterator[bytes]:
    """A streamed body, which can be read only once: the retry must send what was read."""
    yield b'{"jql": "project = DEV", '
    yield b'"fields": ["summary"]}'


def test_a_revoked_access_token_is_refreshed_once_and_the_request_sent_again(
    database_url: str,
) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                fake.touch_issue(site.cloud_id, "DEV-1", "found")
                fake.revoke_access_token(site.access_token)
                transport = Counting()
                async with client(d, url, site.cloud_id, transport) as jira:
                    found = await jira.post(
                        "/rest/api/3/search/jql",
                        content=body(),
                        headers={"Content-Type": "application/json"},
                    )
                assert found.status_code == 200, found.text
                assert [i["key"] for i in found.json()["issues"]] == ["DEV-1"]
                assert fake.refreshes == 1
                stored = await d.sites.get(site.cloud_id)
                assert stored is not None and stored.access_token != site.access_token
                first, second = transport.sent
                assert first[0] == f"Bearer {site.access_token}" and first[2] == 401
                assert second[0] == f"Bearer {stored.access_token}" and second[2] == 200
                assert first[1] == second[1] and b"project = DEV" in second[1]

        asyncio.run(scenario())


def test_two_instances_hit_by_a_401_at_once_refresh_once(database_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as one, door(database_url, fake, url) as two:
                site = await connected(one, fake, url)
                fake.revoke_access_token(site.access_token)
                transports = [Counting() for _ in range(4)]
                clients = [
                    client(d, url, site.cloud_id, t)
                    for d, t in zip((one, two, one, two), transports, strict=True)
                ]
                answers = await asyncio.gather(
                    *(jira.get("/rest/api/3/myself") for jira in clients)
                )
                for jira in clients:
                    await jira.aclose()
                assert [a.status_code for a in answers] == [200] * 4
                assert fake.refreshes == 1
                assert len(fake.live_refresh_tokens()) == 1
                stored = await two.sites.get(site.cloud_id)
                assert stored is not None
                assert fake.live_refresh_tokens() == [stored.refresh_token]
                assert {t.sent[-1][0] for t in transports} == {f"Bearer {stored.access_token}"}

        asyncio.run(scenario())


def test_a_second_401_is_returned_as_it_is(sqlite_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            asked: list[str | None] = []

            async def refused_token(*, rejected: str | None = None) -> str:
                asked.append(rejected)
                return "never-valid"

            transport = Counting()
            base = gateway_url(url, next(iter(fake.sites)))
            async with site_jira_client(base, refused_token, transport=transport) as jira:
                answer = await jira.put("/rest/api/3/webhook/refresh", json={"webhookIds": [1]})
            assert answer.status_code == 401
            assert asked == [None, "never-valid"]
            assert [status for _, _, status in transport.sent] == [401, 401]
            assert transport.sent[0][1] == transport.sent[1][1] == b'{"webhookIds":[1]}'

        asyncio.run(scenario())


def test_a_401_after_the_consent_was_revoked_means_reconnect(sqlite_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(sqlite_url, fake, url) as d:
                site = await connected(d, fake, url)
                fake.revoke()
                transport = Counting()
                async with client(d, url, site.cloud_id, transport) as jira:
                    with pytest.raises(NeedsReconnect, match="needs reconnect"):
                        await jira.get("/rest/api/3/myself")
                assert [status for _, _, status in transport.sent] == [401]
                stored = await d.sites.get(site.cloud_id)
                assert stored is not None and stored.status is SiteStatus.NEEDS_RECONNECT

        asyncio.run(scenario())


def test_the_doors_client_for_a_delivery_survives_a_revoked_token(sqlite_url: str) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                site = await flow.connect()
                fake.revoke_access_token(site.access_token)
                factory = await flow.door.site_client(site.url)
                assert factory is not None
                async with factory() as jira:
                    me = await jira.get("/rest/api/3/myself")
                assert me.status_code == 200
                assert fake.refreshes == 1

        asyncio.run(scenario())
