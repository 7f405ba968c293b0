"""People's background work through a real door: a Connect tenant's accounts imported (the email API
filling hidden emails) once it is installed, erased once it is uninstalled; the personal data report
on its `Cycle-Period` schedule. The simulator's fake Jira serves the users on a loopback port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import httpx

from addon.connect import ConnectDoor, render_for
from addon.doors import JiraClientFactory, Runtime
from addon.people import Account, AccountType, EmailSource, HeldDeliveries, PeopleStore, Person
from addon.people_service import PeopleService
from addon.reach import Reach, SiteUnreachable
from addon.settings import Settings
from addon.simulator import FakeJiraUsers
from addon.store import (
    DeliveryStatus,
    HandlerState,
    NewDelivery,
    Store,
    TenantState,
    open_store,
)
from tests.support.loopback import LoopbackServer


def users() -> FakeJiraUsers:
    fake = FakeJiraUsers()
    fake.add("acc-hidden", "Hidden Person", "hidden@example.com")
    fake.add("acc-shown", "Shown Person", "shown@example.com", visible=True)
    fake.add("acc-app", "Automation", account_type="app")
    return fake


def with_connect(
    url: str,
    fake: FakeJiraUsers,
    scenario: Callable[[Store, PeopleService, str], Awaitable[None]],
    **options: object,
) -> None:
    async def go(site: str) -> None:
        store = await open_store(url, handler_state=HandlerState.PENDING)
        await store.start()
        http = httpx.AsyncClient()
        try:
            await store.tenants.save_installation(
                {"key": "k", "clientKey": "c-1", "sharedSecret": "s" * 32, "baseUrl": site},
                iat=1,
            )
            settings = Settings(key="k")
            door = ConnectDoor(settings, render_for(settings))
            await door.start(Runtime(store=store, http=http))
            people = PeopleService(store, Reach([door]).client_for, **options)  # type: ignore[arg-type]
            await scenario(store, people, site)
        finally:
            await http.aclose()
            await store.close()

    with LoopbackServer(fake.app) as server:
        asyncio.run(go(server.url))


def test_an_installed_site_s_accounts_are_imported_and_erased_once_uninstalled(
    database_url: str,
) -> None:
    fake = users()

    async def scenario(store: Store, people: PeopleService, site: str) -> None:
        await people.upsert(Person("p-hidden", "Hidden@Example.com"))
        recorded = await store.writer.record(
            NewDelivery(
                received_at=time.time(),
                origin_kind="connect",
                origin="c-1",
                status=DeliveryStatus.ACCEPTED,
                event="jira:issue_updated",
                webhook_id="held-1",
                body=json.dumps({"user": {"accountId": "acc-hidden"}}).encode(),
            )
        )
        held = HeldDeliveries(store.db)
        assert await held.hold(recorded.id, site, "acc-hidden")

        await people.upkeep()
        accounts = {a.account_id: a for a in await people.people.accounts(site)}
        assert set(accounts) == {"acc-hidden", "acc-shown", "acc-app"}
        assert accounts["acc-hidden"].email_source is EmailSource.EMAIL_API
        assert accounts["acc-shown"].email_source is EmailSource.PROFILE
        state = await people.directory.state(site, "acc-hidden")
        assert state is not None and state.person_id == "p-hidden"
        delivery = await store.deliveries.get(recorded.id)
        assert delivery is not None and delivery.handler_state is HandlerState.PENDING
        assert any(r.startswith("GET /rest/api/3/users/search") for r in fake.requests)

        await store.tenants.set_state("c-1", TenantState.UNINSTALLED, iat=2)
        await people.upkeep()
        assert await people.people.accounts(site) == []
        assert await people.people.mappings(site) == []

    with_connect(database_url, fake, scenario, email_api=True)


def test_without_the_email_api_a_hidden_email_stays_unknown(sqlite_url: str) -> None:
    fake = users()

    async def scenario(store: Store, people: PeopleService, site: str) -> None:
        await people.refresh(site)
        hidden = await people.people.account(site, "acc-hidden")
        assert hidden is not None and hidden.email is None
        assert not any("/user/email/bulk" in r for r in fake.requests)

    with_connect(sqlite_url, fake, scenario)


def test_the_report_runs_on_its_cycle_and_erases_closed_accounts(database_url: str) -> None:
    fake = users()
    fake.closed = {"acc-gone"}
    fake.updated = {"acc-shown"}
    fake.cycle_period = 3600
    now = [1_000_000.0]

    async def reporter(site: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))

    async def go() -> None:
        store = await open_store(database_url)
        try:
            with LoopbackServer(fake.app) as server:
                site = server.url

                async def client_for(name: str) -> JiraClientFactory:
                    return JiraClientFactory(
                        name, lambda: httpx.AsyncClient(base_url=name, timeout=5)
                    )

                people = PeopleService(
                    store,
                    client_for,
                    report_client=reporter,
                    report_url="http://fake/app/report-accounts/",
                    clock=lambda: now[0],
                )
                store_ = PeopleStore(store.db)
                for account_id in ("acc-gone", "acc-shown"):
                    await store_.upsert_account(
                        Account(site, account_id, AccountType.ATLASSIAN, "Old Name")
                    )
                await people.report_when_due()
                assert fake.reports == [["acc-gone", "acc-shown"]]
                assert await store_.account(site, "acc-gone") is None  # closed: forgotten
                shown = await store_.account(site, "acc-shown")
                assert shown is not None and shown.display_name == "Shown Person"  # refreshed

                now[0] += 3599
                await people.report_when_due()
                assert len(fake.reports) == 1  # not due before Cycle-Period
                now[0] += 2
                await people.report_when_due()
                assert fake.reports[1:] == [["acc-shown"]]
        finally:
            await store.close()

    asyncio.run(go())


def test_a_site_out_of_reach_keeps_its_accounts_for_a_day_then_loses_them(sqlite_url: str) -> None:
    now = [1_000_000.0]

    async def nowhere(site: str) -> JiraClientFactory:
        raise SiteUnreachable(site)

    async def go() -> None:
        store = await open_store(sqlite_url)
        try:
            people = PeopleService(store, nowhere, clock=lambda: now[0])
            await people.upsert(Person("p-1", "one@example.com"))
            site = "https://gone.atlassian.net"
            await people.directory.account_changed(
                Account(site, "acc-1", AccountType.ATLASSIAN, "One", email="one@example.com")
            )
            await people.upkeep()
            now[0] += 86_399
            await people.upkeep()  # a door's passing fault erases no mapping
            assert [m.person_id for m in await people.people.mappings(site)] == ["p-1"]
            now[0] += 1
            await people.upkeep()
            assert await people.people.accounts(site) == []
            assert await people.people.mappings(site) == []
        finally:
            await store.close()

    asyncio.run(go())


def test_a_refresh_pages_through_jira_s_user_search(sqlite_url: str) -> None:
    fake = FakeJiraUsers()
    for n in range(230):
        fake.add(f"acc-{n:03}", f"User {n}")

    async def scenario(store: Store, people: PeopleService, site: str) -> None:
        result = await people.refresh(site)
        assert (result.seen, result.removed) == (230, 0)
        pages = [r for r in fake.requests if r.startswith("GET /rest/api/3/users/search")]
        assert pages == [
            f"GET /rest/api/3/users/search?startAt={start}&maxResults=100"
            for start in (0, 100, 200)
        ]
        del fake.users["acc-000"]
        assert (await people.refresh(site)).removed == 1

    with_connect(sqlite_url, fake, scenario)


def test_the_daily_refresh_job_brings_every_site_s_accounts_up_to_jira(sqlite_url: str) -> None:
    fake = users()

    async def scenario(store: Store, people: PeopleService, site: str) -> None:
        jobs = {job.name: job for job in people.jobs()}
        refresh = jobs["people-refresh"]
        assert refresh.every == 86_400  # OAuth dynamic webhooks deliver no user events
        await refresh.run()
        assert len(await people.people.accounts(site)) == 3
        fake.add("acc-new", "New Person", "new@example.com", visible=True)
        del fake.users["acc-app"]
        await people.upsert(Person("p-new", "NEW@example.com"))
        await refresh.run()
        ids = sorted(a.account_id for a in await people.people.accounts(site))
        assert ids == ["acc-hidden", "acc-new", "acc-shown"]
        [mapping] = [m for m in await people.people.mappings(site) if m.account_id == "acc-new"]
        assert mapping.person_id == "p-new"

    with_connect(sqlite_url, fake, scenario)
