"""Connecting a site: the code exchanged at the fake Atlassian, the site chosen, tokens at rest."""

from __future__ import annotations

import asyncio

import pytest

from addon.sites import (
    REFRESH_TOKEN_LIFETIME,
    AtlassianError,
    InvalidGrant,
    SiteStatus,
    choose_site,
    complete_consent,
    connect_site,
)
from tests.sites.support import BASE_URL, consent_code, door, running_fake


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
