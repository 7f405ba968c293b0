"""Job leases on both databases: one owner at a time across instances, until it expires."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from addon.store import Store, open_store

NOW = 1_800_000_000.0


def with_stores(url: str, scenario: Callable[[Store, Store], Awaitable[Any]]) -> Any:
    """Two stores on one database: two instances of the add-on."""

    async def go() -> Any:
        first, second = await open_store(url), await open_store(url)
        try:
            return await scenario(first, second)
        finally:
            await first.db.disconnect()
            await second.db.disconnect()

    return asyncio.run(go())


def test_one_instance_holds_a_lease_until_it_expires_or_is_released(database_url: str) -> None:
    async def scenario(a: Store, b: Store) -> None:
        assert await a.job_leases.take("refresh", "a", seconds=60, now=NOW)
        assert not await b.job_leases.take("refresh", "b", seconds=60, now=NOW + 59)
        assert await b.job_leases.take("other-job", "b", seconds=60, now=NOW)
        assert await a.job_leases.take("refresh", "a", seconds=60, now=NOW + 30)  # renewed
        assert not await b.job_leases.take("refresh", "b", seconds=60, now=NOW + 89)
        assert await b.job_leases.take("refresh", "b", seconds=60, now=NOW + 90)  # expired
        assert not await a.job_leases.take("refresh", "a", seconds=60, now=NOW + 91)
        await a.job_leases.release("refresh", "a")  # not its lease: changes nothing
        assert not await a.job_leases.take("refresh", "a", seconds=60, now=NOW + 92)
        await b.job_leases.release("refresh", "b")
        assert await a.job_leases.take("refresh", "a", seconds=60, now=NOW + 93)

    with_stores(database_url, scenario)


def test_concurrent_takers_agree_on_one_owner(database_url: str) -> None:
    async def scenario(a: Store, b: Store) -> None:
        taken = await asyncio.gather(
            *(
                store.job_leases.take("keep-alive", f"owner-{n}", seconds=60, now=NOW)
                for n, store in enumerate((a, b, a, b))
            )
        )
        assert sorted(taken) == [False, False, False, True]

    with_stores(database_url, scenario)
