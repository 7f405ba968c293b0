"""The personal data report through each kind of door, end to end: a Connect tenant reports on its
site with its JWT (qsh over `/app/report-accounts/`), an OAuth site on Atlassian's gateway with its
access token. The fakes refuse anything else with 401."""

from __future__ import annotations

import asyncio

import httpx

from addon.connect import ConnectDoor, render_for
from addon.doors import Runtime
from addon.people import Account, AccountType, report_url
from addon.people_service import PeopleService
from addon.reach import Reach, site_name
from addon.settings import Settings
from addon.simulator import FakeJiraUsers
from addon.store import HandlerState, open_store
from tests.people.support import hold_people_jobs
from tests.sites.flow import flow_settings, serving
from tests.sites.support import running_fake
from tests.support.loopback import LoopbackServer

SECRET = "s" * 32


def test_the_report_goes_on_the_site_for_connect_and_on_the_gateway_otherwise() -> None:
    assert report_url(None) == "/app/report-accounts/"
    assert (
        report_url("https://api.atlassian.com/") == "https://api.atlassian.com/app/report-accounts/"
    )


def run_connect(database_url: str, fake: FakeJiraUsers, secret: str) -> list[str]:
    """Report two stored accounts of a Connect tenant whose site is `fake` (its tenant's shared
    secret `secret`); the account ids stored afterwards."""

    async def go(site: str) -> None:
        store = await open_store(database_url, handler_state=HandlerState.PENDING)
        await store.start()
        http = httpx.AsyncClient()
        try:
            await store.tenants.save_installation(
                {"key": "k", "clientKey": "c-1", "sharedSecret": secret, "baseUrl": site}, iat=1
            )
            settings = Settings(key="k")
            door = ConnectDoor(settings, render_for(settings))
            await door.start(Runtime(store=store, http=http))
            people = PeopleService(store, Reach([door]).client_for)
            for account_id in ("acc-gone", "acc-shown"):
                await people.people.upsert_account(
                    Account(site_name(site), account_id, AccountType.ATLASSIAN, "Old Name")
                )
            reports = await people.report()
            assert (site_name(site) in reports) is (secret == SECRET)
            remaining.extend(a.account_id for a in await people.people.accounts())
        finally:
            await http.aclose()
            await store.close()

    remaining: list[str] = []
    with LoopbackServer(fake.app) as server:
        asyncio.run(go(server.url))
    return remaining


def test_a_connect_tenant_reports_on_its_site_with_its_jwt(database_url: str) -> None:
    fake = FakeJiraUsers(connect_secret=SECRET)
    fake.add("acc-shown", "Shown Person", "shown@example.com", visible=True)
    fake.closed = {"acc-gone"}
    fake.updated = {"acc-shown"}

    remaining = run_connect(database_url, fake, SECRET)

    assert fake.reports == [["acc-gone", "acc-shown"]]
    assert "POST /app/report-accounts/" in fake.requests
    assert remaining == ["acc-shown"]  # closed: forgotten; updated: looked up again
    assert "GET /rest/api/3/user?accountId=acc-shown" in fake.requests


def test_a_report_the_site_refuses_forgets_nothing(sqlite_url: str) -> None:
    fake = FakeJiraUsers(connect_secret=SECRET)
    fake.closed = {"acc-gone"}

    remaining = run_connect(sqlite_url, fake, "x" * 32)  # signed with another secret

    assert fake.reports == []  # the fake answered 401 before reading the report
    assert "POST /app/report-accounts/" in fake.requests
    assert sorted(remaining) == ["acc-gone", "acc-shown"]


def test_an_oauth_site_reports_on_atlassian_s_gateway_with_its_access_token(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):
        fake.reporting.closed = {"acc-gone"}
        fake.reporting.cycle_period = 3600

        async def scenario() -> None:
            await hold_people_jobs(sqlite_url)
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                site = await flow.connect()
                people = PeopleService(flow.store, Reach([flow.door]).client_for)
                for account_id in ("acc-gone", "acc-kept"):
                    await people.people.upsert_account(
                        Account(site_name(site.url), account_id, AccountType.ATLASSIAN, "Name")
                    )
                reports = await people.report()
                assert reports[site_name(site.url)].cycle_seconds == 3600
                assert fake.reporting.reports == [["acc-gone", "acc-kept"]]
                assert [a.account_id for a in await people.people.accounts()] == ["acc-kept"]

        asyncio.run(scenario())
