"""People's clocks live in the database: two instances on one database (each its own store and
service, as two processes, the jobs' lease moving between them) share when the report is due and
since when a site has been out of reach; a restart is a new instance."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from addon.doors import JiraClientFactory
from addon.people import Account, AccountType, PeopleSchedule, Person
from addon.people_service import PeopleService
from addon.reach import SiteUnreachable, site_name
from addon.simulator import FakeJiraUsers
from addon.store import open_store
from tests.support.loopback import LoopbackServer

ClientFor = Callable[[str], Awaitable[JiraClientFactory]]


async def nowhere(site: str) -> JiraClientFactory:
    raise SiteUnreachable(site)


def plain(site: str) -> ClientFor:
    async def client_for(name: str) -> JiraClientFactory:
        return JiraClientFactory(name, lambda: httpx.AsyncClient(base_url=site, timeout=5))

    return client_for


@contextlib.asynccontextmanager
async def instance(
    url: str, client_for: ClientFor, now: list[float]
) -> AsyncIterator[PeopleService]:
    store = await open_store(url)
    try:
        yield PeopleService(store, client_for, clock=lambda: now[0])
    finally:
        await store.close()


def test_another_instance_keeps_the_time_a_site_went_out_of_reach(database_url: str) -> None:
    now = [1_000_000.0]
    site = "https://gone.atlassian.net"

    async def go() -> None:
        async with instance(database_url, nowhere, now) as first:
            await first.upsert(Person("p-1", "one@example.com"))
            await first.directory.account_changed(
                Account(site, "acc-1", AccountType.ATLASSIAN, "One", email="one@example.com")
            )
            await first.upkeep()  # out of reach from now on
        now[0] += 86_399
        async with instance(database_url, nowhere, now) as second:
            await second.upkeep()
            assert [m.person_id for m in await second.people.mappings(site)] == ["p-1"]
            now[0] += 1
            await second.upkeep()  # a day since the first instance found it out of reach
            assert await second.people.accounts(site) == []
            assert await second.people.mappings(site) == []
            assert await second.schedule.unreachable_since(site, now[0]) == now[0]  # cleared

    asyncio.run(go())


def test_a_site_back_in_reach_starts_its_day_again(sqlite_url: str) -> None:
    async def go() -> None:
        store = await open_store(sqlite_url)
        try:
            schedule = PeopleSchedule(store.db)
            assert await schedule.unreachable_since("https://a.example", 10.0) == 10.0
            assert await schedule.unreachable_since("https://a.example", 20.0) == 10.0
            await schedule.reachable("https://a.example")
            assert await schedule.unreachable_since("https://a.example", 30.0) == 30.0
            assert await schedule.report_due_at() == 0.0
            await schedule.report_due(5.0)
            await schedule.report_due(7.0)
            assert await schedule.report_due_at() == 7.0
        finally:
            await store.close()

    asyncio.run(go())


def test_another_instance_does_not_report_before_the_cycle_ends(database_url: str) -> None:
    fake = FakeJiraUsers()
    fake.cycle_period = 3600
    now = [1_000_000.0]

    async def go(site: str) -> None:
        async with instance(database_url, plain(site), now) as first:
            await first.people.upsert_account(
                Account(site_name(site), "acc-1", AccountType.ATLASSIAN, "One")
            )
            await first.report_when_due()
            assert fake.reports == [["acc-1"]]
        now[0] += 3599
        async with instance(database_url, plain(site), now) as second:
            await second.report_when_due()
            assert len(fake.reports) == 1  # due in a second, whichever instance asks
            now[0] += 1
            await second.report_when_due()
            assert len(fake.reports) == 2

    with LoopbackServer(fake.app) as server:
        asyncio.run(go(server.url))
