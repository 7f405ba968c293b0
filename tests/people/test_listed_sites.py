"""A site connected with OAuth or a Forge installation has its accounts imported by the next
people upkeep, before any delivery from it, and erased by the next one after an OAuth disconnect
or a Forge uninstall: the upkeep asks every door that lists its sites."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from addon.doors import Runtime
from addon.forge import ForgeDoor, SiteDetails
from addon.people import report_url
from addon.reach import Reach
from addon.services import people_for
from addon.settings import Settings
from addon.simulator import FakeJiraUsers
from addon.store import DeliveryFilter, open_store
from tests.people.support import hold_people_jobs
from tests.sites.flow import flow_settings, serving
from tests.sites.support import running_fake

APP_ID = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"
INSTALLATION = "ari:cloud:ecosystem::installation/2f9d3c1e-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
GONE = "ari:cloud:ecosystem::installation/00000000-6a7b-4c8d-9e0f-1a2b3c4d5e6f"


def test_an_oauth_site_s_accounts_are_imported_once_it_is_connected(sqlite_url: str) -> None:
    with running_fake() as (fake, fake_url):
        [fake_site] = fake.sites.values()
        fake_site.users.add("acc-1", "One", "one@example.com", visible=True)
        fake_site.users.add("acc-bot", "Bot", account_type="app")
        settings = flow_settings(sqlite_url, fake_url)

        async def scenario() -> None:
            await hold_people_jobs(sqlite_url)
            async with serving(settings, fake) as flow:
                site = await flow.connect()
                people = people_for(settings, flow.store, [flow.door])
                assert await people.known_sites() == [site.url]
                await people.upkeep()
                accounts = await people.people.accounts(site.url)
                assert sorted(a.account_id for a in accounts) == ["acc-1", "acc-bot"]
                assert (
                    await flow.store.deliveries.page(DeliveryFilter(), limit=10) == []
                )  # none came in
                assert any(
                    r.startswith("GET /rest/api/3/users/search") for r in fake_site.users.requests
                )
                await flow.door.work.disconnect(site)  # what `addon oauth disconnect` does
                await people.upkeep()  # at once, not after a day out of reach
                assert await people.people.accounts(site.url) == []

        asyncio.run(scenario())


def test_a_forge_installation_is_listed_and_its_accounts_imported(database_url: str) -> None:
    fake = FakeJiraUsers()
    fake.add("acc-1", "One")
    api = Starlette(routes=[Mount("/ex/jira/cloud-1", app=fake.app)])
    settings = Settings(forge_app_id=APP_ID, encryption_keys=(b"k" * 32,))

    async def go() -> None:
        store = await open_store(database_url, keys=settings.encryption_keys)
        http = httpx.AsyncClient()
        try:
            door = ForgeDoor(settings, transport=httpx.ASGITransport(app=api))
            await door.start(Runtime(store=store, http=http))
            now = time.time()
            for installation, cloud in ((INSTALLATION, "cloud-1"), (GONE, "cloud-2")):
                await door.installations.seen(
                    SiteDetails(
                        installation,
                        f"https://api.atlassian.com/ex/jira/{cloud}",
                        cloud,
                        f"https://{cloud}.atlassian.net",
                    ),
                    installed=True,
                    now=now,
                )
                await door.installations.save_system_token(installation, "system", now + 900)
            await door.installations.mark_uninstalled(GONE, now=now)
            facts = {f.key: f for f in await door.site_facts()}
            assert facts[INSTALLATION].site_url == "https://cloud-1.atlassian.net"
            assert facts[GONE].status == "uninstalled"
            assert await Reach([door]).listed_sites() == [
                "https://cloud-1.atlassian.net",
                "https://cloud-2.atlassian.net",
            ]

            factory = await door.site_client("https://cloud-1.atlassian.net")
            assert factory is not None and factory.gateway == "https://api.atlassian.com"
            assert report_url(factory.gateway) == "https://api.atlassian.com/app/report-accounts/"

            people = people_for(settings, store, [door])
            await people.upkeep()
            [account] = await people.people.accounts()
            assert (account.site, account.account_id) == ("https://cloud-1.atlassian.net", "acc-1")
            assert fake.requests[0].startswith("GET /ex/jira/cloud-1/rest/api/3/users/search")
            await door.installations.mark_uninstalled(INSTALLATION, now=now)  # preUninstall
            await people.upkeep()  # at once, not after a day out of reach
            assert await people.people.accounts() == []
        finally:
            await http.aclose()
            await store.close()

    asyncio.run(go())
