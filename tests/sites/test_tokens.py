"""A site's access token refreshed once for all instances; a refused grant means reconnect."""

from __future__ import annotations

import asyncio
import logging

import pytest

from addon.simulator import FakeAtlassian
from addon.sites import (
    DAY,
    REFRESH_TOKEN_LIFETIME,
    NeedsReconnect,
    Site,
    SiteStatus,
    TokenKeeper,
    complete_consent,
    connect_site,
)
from tests.sites.support import BASE_URL, Door, consent_code, door, running_fake


async def connected(d: Door, fake: FakeAtlassian, url: str) -> Site:
    consent = await complete_consent(d.api, code=await consent_code(d.http, url), base_url=BASE_URL)
    assert consent.single is not None
    return await connect_site(d.sites, consent, consent.single, now=fake.now())


def test_a_fresh_access_token_is_used_as_it_is(database_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                assert await d.tokens.access_token(site.cloud_id) == site.access_token
                assert fake.refreshes == 0

        asyncio.run(scenario())


def test_two_instances_refreshing_at_once_end_with_one_valid_refresh_token(
    database_url: str,
) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as one, door(database_url, fake, url) as two:
                site = await connected(one, fake, url)
                fake.advance(3600)  # the access token has expired
                tokens = await asyncio.gather(
                    *(
                        keeper.access_token(site.cloud_id)
                        for keeper in (one.tokens, two.tokens, one.tokens, two.tokens)
                    )
                )
                assert fake.refreshes == 1
                assert len(set(tokens)) == 1 and tokens[0] != site.access_token
                stored = await two.sites.get(site.cloud_id)
                assert stored is not None
                assert stored.access_token == tokens[0]
                assert fake.live_refresh_tokens() == [stored.refresh_token]
                # Past the leeway only the stored token works, and it does.
                fake.advance(3600)
                assert await two.tokens.access_token(site.cloud_id) != tokens[0]
                assert fake.refreshes == 2

        asyncio.run(scenario())


def test_a_lease_held_by_another_instance_is_waited_for(database_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                fake.advance(3600)
                assert await d.sites.take_refresh_lease(
                    site.cloud_id, "other", now=fake.now(), seconds=0.3
                )
                token = await d.tokens.access_token(site.cloud_id)
                assert fake.refreshes == 1  # after the other's lease ran out, this one refreshed
                assert token != site.access_token

        asyncio.run(scenario())


def test_invalid_grant_marks_the_site_needs_reconnect_and_stops_calling(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                fake.revoke()
                fake.advance(3600)
                with (
                    caplog.at_level(logging.WARNING, "addon.sites"),
                    pytest.raises(NeedsReconnect),
                ):
                    await d.tokens.access_token(site.cloud_id)
                stored = await d.sites.get(site.cloud_id)
                assert stored is not None
                assert stored.status is SiteStatus.NEEDS_RECONNECT
                assert "invalid_grant" in (stored.status_reason or "")
                assert [r.message for r in caplog.records if "needs reconnect" in r.message]
                assert site.refresh_token not in caplog.text
                calls = fake.token_calls
                with pytest.raises(NeedsReconnect):
                    await d.tokens.access_token(site.cloud_id)
                assert fake.token_calls == calls
                # A new consent connects it again.
                again = await connected(d, fake, url)
                assert again.status is SiteStatus.CONNECTED

        asyncio.run(scenario())


def test_the_refresh_token_end_of_life_is_warned_a_month_ahead(sqlite_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(sqlite_url, fake, url) as d:
                site = await connected(d, fake, url)
                assert not site.refresh_token_warning(fake.now())
                assert not site.refresh_token_warning(fake.now() + 334 * DAY)
                assert site.refresh_token_warning(fake.now() + 336 * DAY)
                assert site.refresh_expires_at == site.connected_at + REFRESH_TOKEN_LIFETIME

                # Refreshing keeps the absolute end of life: it is the consent's, not the token's.
                for _ in range(4):  # used every 75 days: never 90 days idle
                    fake.advance(75 * DAY)
                    await d.tokens.access_token(site.cloud_id)
                refreshed = await d.sites.get(site.cloud_id)
                assert refreshed is not None and refreshed.refresh_token != site.refresh_token
                assert refreshed.refresh_expires_at == site.refresh_expires_at
                fake.advance(66 * DAY)  # past it: Atlassian refuses, only a new consent helps
                with pytest.raises(NeedsReconnect):
                    await d.tokens.access_token(site.cloud_id)

        asyncio.run(scenario())


def test_a_keeper_with_its_own_owner_name_is_one_instance(sqlite_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(sqlite_url, fake, url) as d:
                site = await connected(d, fake, url)
                keeper = TokenKeeper(d.sites, d.api, clock=fake.now, owner="instance-a")
                token = await keeper.access_token(site.cloud_id, force=True)
                assert token != site.access_token and fake.refreshes == 1

        asyncio.run(scenario())
