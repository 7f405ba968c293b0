"""Connecting a site: the code exchanged at the fake Atlassian, the site chosen, tokens at rest."""

from __future__ import annotations

import asyncio

import pytest

from addon.sites import (
    REFRESH_TOKEN_LIFETIME,
    AtlassianError,
    InvalidGrant,
    SiteStatus,
    SiteStore,
    StateExpired,
    StateUnknown,
    choose_site,
    complete_consent,
    connect_site,
    hold_for_choice,
    resume_choice,
)
from addon.store import generate_key, open_store
from tests.sites.support import BASE_URL, KEY, consent_code, door, raw_key, running_fake


def test_one_site_is_connected_at_once_with_its_tokens_encrypted(database_url: str) -> None:
    with running_fake("acme") as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                consent = await complete_consent(
                    d.api, code=await consent_code(d.http, url), base_url=BASE_URL
                )
                assert consent.single is not None
                site = await connect_site(d.sites, consent, consent.single, now=fake.now())
                assert site.url == "https://acme.atlassian.net"
                assert site.status is SiteStatus.CONNECTED
                assert site.refresh_token in fake.live_refresh_tokens()
                assert "manage:jira-webhook" in site.scopes
                assert site.refresh_expires_at == pytest.approx(
                    site.connected_at + REFRESH_TOKEN_LIFETIME
                )
                assert await d.sites.get("https://acme.atlassian.net/") == site
                row = await d.store.db.fetch_one(
                    "SELECT access_token, refresh_token FROM oauth_sites"
                )
                assert row is not None
                assert site.access_token not in row["access_token"]
                assert str(row["refresh_token"]).startswith("enc:v1:")

        asyncio.run(scenario())


def test_several_sites_are_chosen_one_per_consent_and_reconnecting_updates(
    database_url: str,
) -> None:
    with running_fake("acme", "globex") as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                consent = await complete_consent(
                    d.api, code=await consent_code(d.http, url), base_url=BASE_URL
                )
                assert consent.single is None
                assert {r.url for r in consent.resources} == {
                    "https://acme.atlassian.net",
                    "https://globex.atlassian.net",
                }
                with pytest.raises(LookupError):
                    choose_site(consent.resources, "https://initech.atlassian.net")
                globex = choose_site(consent.resources, "https://globex.atlassian.net")
                first = await connect_site(d.sites, consent, globex, now=fake.now())

                again = await complete_consent(
                    d.api, code=await consent_code(d.http, url), base_url=BASE_URL
                )
                second = await connect_site(
                    d.sites, again, choose_site(again.resources, globex.cloud_id), now=fake.now()
                )
                assert [s.cloud_id for s in await d.sites.all()] == [globex.cloud_id]
                assert second.refresh_token != first.refresh_token

        asyncio.run(scenario())


def test_a_code_is_good_once() -> None:
    with running_fake() as (_fake, url):

        async def scenario() -> None:
            import httpx

            from addon.sites import AtlassianApi
            from tests.sites.support import CLIENT_ID, CLIENT_SECRET

            async with httpx.AsyncClient(trust_env=False) as http:
                api = AtlassianApi(
                    http,
                    auth_url=url,
                    api_url=url,
                    client_id=CLIENT_ID,
                    client_secret=CLIENT_SECRET,
                )
                code = await consent_code(http, url)
                await complete_consent(api, code=code, base_url=BASE_URL)
                with pytest.raises(InvalidGrant):
                    await complete_consent(api, code=code, base_url=BASE_URL)
                wrong = AtlassianApi(
                    http, auth_url=url, api_url=url, client_id=CLIENT_ID, client_secret="wrong"
                )
                with pytest.raises(AtlassianError) as refused:
                    await complete_consent(
                        wrong, code=await consent_code(http, url), base_url=BASE_URL
                    )
                assert "401" in str(refused.value)
                assert "wrong" not in str(refused.value)

        asyncio.run(scenario())


def test_a_consent_covering_several_sites_is_held_once_for_the_admins_choice(
    database_url: str,
) -> None:
    with running_fake("acme", "globex") as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                consent = await complete_consent(
                    d.api, code=await consent_code(d.http, url), base_url=BASE_URL
                )
                handle = await hold_for_choice(d.sites, consent, now=fake.now())
                row = await d.store.db.fetch_one("SELECT * FROM oauth_pending_consents")
                assert row is not None
                assert consent.grant.access_token not in str(dict(row))
                assert handle not in str(dict(row))
                resumed = await resume_choice(d.sites, handle, now=fake.now() + 1)
                assert resumed == consent
                with pytest.raises(StateUnknown):
                    await resume_choice(d.sites, handle, now=fake.now() + 2)
                stale = await hold_for_choice(d.sites, consent, now=fake.now())
                with pytest.raises(StateExpired):
                    await resume_choice(d.sites, stale, now=fake.now() + 601)
                site = await connect_site(
                    d.sites,
                    resumed,
                    choose_site(resumed.resources, "https://acme.atlassian.net"),
                    now=fake.now(),
                )
                assert site.refresh_token == consent.grant.refresh_token

        asyncio.run(scenario())


def test_tokens_are_rewritten_under_a_new_first_key(sqlite_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(sqlite_url, fake, url) as d:
                consent = await complete_consent(
                    d.api, code=await consent_code(d.http, url), base_url=BASE_URL
                )
                assert consent.single is not None
                site = await connect_site(d.sites, consent, consent.single, now=fake.now())
            new_key = raw_key(generate_key())
            store = await open_store(sqlite_url, keys=(new_key, raw_key(KEY)))
            try:
                assert await SiteStore(store.db, store.box).reencrypt() == 1
            finally:
                await store.db.disconnect()
            store = await open_store(sqlite_url, keys=(new_key,))
            try:
                again = await SiteStore(store.db, store.box).get(site.cloud_id)
                assert again is not None
                assert again.refresh_token == site.refresh_token
                assert again.access_token == site.access_token
            finally:
                await store.db.disconnect()

        asyncio.run(scenario())
