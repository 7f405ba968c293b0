"""The background pass: every connected site kept alive on its own; refused grants skipped."""

from __future__ import annotations

import asyncio

from addon.sites import (
    SiteStatus,
    WebhookKeeper,
    choose_site,
    complete_consent,
    connect_site,
    upkeep_sites,
)
from tests.sites.support import BASE_URL, consent_code, door, running_fake
from tests.sites.test_webhooks import EVENTS, delivery_url


def test_a_pass_keeps_each_connected_site_and_skips_the_ones_needing_reconnect(
    database_url: str,
) -> None:
    with running_fake("acme", "globex") as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                sites = []
                for name in ("acme", "globex"):
                    consent = await complete_consent(
                        d.api, code=await consent_code(d.http, url), base_url=BASE_URL
                    )
                    chosen = choose_site(consent.resources, f"https://{name}.atlassian.net")
                    sites.append(await connect_site(d.sites, consent, chosen, now=fake.now()))
                acme, globex = sites
                await d.sites.set_status(
                    globex.cloud_id, SiteStatus.NEEDS_RECONNECT, reason="test", now=fake.now()
                )
                keeper = WebhookKeeper(
                    d.sites,
                    d.api,
                    d.tokens,
                    delivery_url=delivery_url,
                    events=EVENTS,
                    refresh_days=7,
                    clock=fake.now,
                )
                first = {o.cloud_id: o for o in await upkeep_sites(d.sites, keeper)}
                assert first[acme.cloud_id].report is not None
                assert first[acme.cloud_id].report.registered
                assert first[globex.cloud_id].skipped == "needs reconnect"
                assert fake.webhooks(globex.cloud_id) == []

                fake.revoke()
                fake.advance(3600)  # acme's access token must be refreshed: refused
                calls = fake.token_calls
                second = {o.cloud_id: o for o in await upkeep_sites(d.sites, keeper)}
                assert "needs reconnect" in (second[acme.cloud_id].skipped or "")
                assert fake.token_calls == calls + 1
                third = {o.cloud_id: o for o in await upkeep_sites(d.sites, keeper)}
                assert third[acme.cloud_id].skipped == "needs reconnect"
                assert fake.token_calls == calls + 1  # no retry loop hammers Atlassian

        asyncio.run(scenario())
