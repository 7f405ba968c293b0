"""Reading the log on both databases: filters, keyset pages, exact and prefix keys, retention."""

from __future__ import annotations

import asyncio
import time

import pytest

from addon.store import DeliveryFilter, DeliveryStatus, NewDelivery, Store, open_store
from addon.store import _deliveries as deliveries_module
from addon.store._deliveries import BROAD_PREFIX


def new(index: int, *, received_at: float | None = None, **changes: object) -> NewDelivery:
    delivery = NewDelivery(
        received_at=time.time() if received_at is None else received_at,
        origin_kind="connect",
        origin=f"tenant-{index % 2}",
        status=DeliveryStatus.ACCEPTED,
        event="jira:issue_updated" if index % 3 else "comment_created",
        webhook_id=f"w-{index}",
        search_keys=(f"PRJ-{index}", "PRJ", f"w-{index}"),
    )
    for name, value in changes.items():
        setattr(delivery, name, value)
    return delivery


def scenario_on(url: str, body: object) -> None:
    async def go() -> None:
        store = await open_store(url)
        await store.start()
        try:
            await body(store)  # type: ignore[operator]
        finally:
            await store.close()

    asyncio.run(go())


def test_filters_and_keyset_pages(database_url: str) -> None:
    async def body(store: Store) -> None:
        for index in range(30):
            await store.writer.record(new(index))
        everything = await store.deliveries.page(DeliveryFilter(), limit=100)
        assert [d.id for d in everything] == sorted((d.id for d in everything), reverse=True)
        first = await store.deliveries.page(DeliveryFilter(), limit=12)
        second = await store.deliveries.page(DeliveryFilter(), limit=12, before_id=first[-1].id)
        assert {d.id for d in first}.isdisjoint(d.id for d in second)
        assert [d.id for d in first + second] == [d.id for d in everything[:24]]
        comments = await store.deliveries.page(DeliveryFilter(event="comment_created"), limit=100)
        assert len(comments) == 10
        tenant = await store.deliveries.page(
            DeliveryFilter(origin="tenant-1", status="accepted"), limit=100
        )
        assert len(tenant) == 15
        exact = await store.deliveries.page(DeliveryFilter(q="PRJ-7"), limit=10)
        assert [d.webhook_id for d in exact] == ["w-7"]
        prefix = await store.deliveries.page(DeliveryFilter(q="PRJ-1*"), limit=100)
        assert sorted(d.webhook_id for d in prefix) == sorted(
            ["w-1"] + [f"w-{i}" for i in range(10, 20)]
        )

    scenario_on(database_url, body)


def test_broad_prefix_takes_the_newest_first_scan(database_url: str) -> None:
    async def body(store: Store) -> None:
        total = BROAD_PREFIX + 100
        await asyncio.gather(*(store.writer.record(new(i)) for i in range(total)))
        page = await store.deliveries.page(DeliveryFilter(q="PRJ*"), limit=50)
        newest = await store.deliveries.page(DeliveryFilter(), limit=50)
        assert [d.id for d in page] == [d.id for d in newest]
        later = await store.deliveries.page(
            DeliveryFilter(q="PRJ-1*"), limit=50, before_id=page[-1].id
        )
        assert all(d.webhook_id and d.webhook_id.startswith("w-1") for d in later)
        assert [d.id for d in later] == sorted((d.id for d in later), reverse=True)

    scenario_on(database_url, body)


def test_webhook_identifiers_are_found_without_a_key_row_for_accepted_deliveries(
    database_url: str,
) -> None:
    def ided(index: int, webhook_id: str) -> NewDelivery:
        return new(index, webhook_id=webhook_id, search_keys=(f"PRJ-{index}", webhook_id))

    async def body(store: Store) -> None:
        first = await store.writer.record(ided(1, "abc-111"))
        again = await store.writer.record(ided(1, "abc-111"))
        other = await store.writer.record(ided(2, "abd-222"))
        assert again.status is DeliveryStatus.DUPLICATE
        keys = await store.db.fetch_all(
            "SELECT search_key, delivery_id FROM delivery_keys WHERE search_key LIKE 'ab%'"
        )
        # The accepted deliveries' identifiers live in deliveries_one_accepted; the duplicate's
        # (not in that index) is a key.
        assert [(r["search_key"], int(r["delivery_id"])) for r in keys] == [("abc-111", again.id)]

        async def found(**where: str) -> list[int]:
            return [d.id for d in await store.deliveries.page(DeliveryFilter(**where), limit=10)]

        assert await found(q="abc-111") == [again.id, first.id]
        assert await found(q="abc-111", status="accepted") == [first.id]
        assert await found(q="abc-111", status="duplicate") == [again.id]
        assert await found(q="abc-111", origin="tenant-0") == []
        assert await found(q="ab*") == [other.id, again.id, first.id]
        assert await found(q="abd*") == [other.id]
        assert await found(q="ab*", origin="tenant-1") == [again.id, first.id]
        assert await found(q="abc") == []
        page = await store.deliveries.page(DeliveryFilter(q="ab*"), limit=2)
        assert [d.id for d in page] == [other.id, again.id]
        rest = await store.deliveries.page(DeliveryFilter(q="ab*"), limit=2, before_id=again.id)
        assert [d.id for d in rest] == [first.id]

    scenario_on(database_url, body)


def test_a_broad_prefix_of_identifiers_takes_the_newest_first_scan(database_url: str) -> None:
    async def body(store: Store) -> None:
        total = BROAD_PREFIX + 100
        await asyncio.gather(
            *(
                store.writer.record(new(i, webhook_id=f"id-{i}", search_keys=()))
                for i in range(total)
            )
        )
        page = await store.deliveries.page(DeliveryFilter(q="id-*"), limit=50)
        newest = await store.deliveries.page(DeliveryFilter(), limit=50)
        assert [d.id for d in page] == [d.id for d in newest]
        narrow = await store.deliveries.page(DeliveryFilter(q="id-100*"), limit=50)
        assert sorted(d.webhook_id or "" for d in narrow) == sorted(
            ["id-100", *(f"id-100{i}" for i in range(10))]
        )

    scenario_on(database_url, body)


def test_the_broad_prefix_walk_returns_whole_pages_whatever_the_keys_per_delivery(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six matching keys per delivery: the walk over the key index goes on until a page is full."""
    monkeypatch.setattr(deliveries_module, "BROAD_PREFIX", 20)

    async def body(store: Store) -> None:
        for index in range(60):
            keys = tuple(f"K{index}-{n}" for n in range(6))
            await store.writer.record(new(index, search_keys=keys))
        newest = await store.deliveries.page(DeliveryFilter(), limit=60)
        page = await store.deliveries.page(DeliveryFilter(q="K*"), limit=10)
        assert [d.id for d in page] == [d.id for d in newest[:10]]
        comments = await store.deliveries.page(
            DeliveryFilter(q="K*", event="comment_created"), limit=5
        )
        expected = [d.id for d in newest if d.event == "comment_created"]
        assert [d.id for d in comments] == expected[:5]
        after = await store.deliveries.page(
            DeliveryFilter(q="K*", event="comment_created"), limit=5, before_id=comments[-1].id
        )
        assert [d.id for d in after] == expected[5:10]
        assert await store.deliveries.page(DeliveryFilter(q="K*", status="rejected"), limit=5) == []

    scenario_on(database_url, body)


def test_duplicates_of_a_delivery_and_retention(database_url: str) -> None:
    async def body(store: Store) -> None:
        original = await store.writer.record(new(1))
        copies = [await store.writer.record(new(1, retry=n)) for n in (1, 2)]
        assert [c.status for c in copies] == [DeliveryStatus.DUPLICATE] * 2
        attempts = await store.deliveries.attempts_of(original.id)
        assert [(a.retry, a.duplicate_of) for a in attempts] == [(1, original.id), (2, original.id)]
        await store.writer.record(new(2, received_at=time.time() - 40 * 86_400))
        assert await store.deliveries.prune(older_than=time.time() - 30 * 86_400) == 1
        assert len(await store.deliveries.page(DeliveryFilter(q="PRJ-2"), limit=10)) == 0
        keys = await store.db.fetch_all(
            "SELECT * FROM delivery_keys WHERE search_key = ?", ("PRJ-2",)
        )
        assert keys == []

    scenario_on(database_url, body)
