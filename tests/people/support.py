"""Running a scenario on a migrated store (SQLite file or PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from addon.people import Directory, PeopleStore
from addon.store import HandlerState, Store, open_store

SITE = "https://acme.atlassian.net"
OTHER_SITE = "https://globex.atlassian.net"


def run(url: str, scenario: Callable[[Store, Directory], Awaitable[None]]) -> None:
    async def go() -> None:
        store = await open_store(url, handler_state=HandlerState.PENDING)
        await store.start()
        try:
            await scenario(store, Directory(PeopleStore(store.db)))
        finally:
            await store.close()

    asyncio.run(go())


async def hold_people_jobs(url: str) -> None:
    """Take the people jobs' leases as another instance would, so that an app started on `url`
    leaves them to the test (which runs them itself, at a known moment)."""
    store = await open_store(url)
    try:
        for job in ("people-upkeep", "people-refresh", "people-report"):
            assert await store.job_leases.take(job, "another instance", seconds=3600)
    finally:
        await store.close()
