"""The delivery writer on both databases: group commit, duplicates, the bounded rejection lane."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from addon.store import DeliveryStatus, NewDelivery, Store, open_store


def new(webhook_id: str | None, status: DeliveryStatus = DeliveryStatus.ACCEPTED) -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=status,
        event="jira:issue_updated",
        webhook_id=webhook_id,
        body=b"{}",
        search_keys=("PRJ-1", webhook_id or "none"),
    )


async def opened(url: str, **options: object) -> Store:
    store = await open_store(url, **options)  # type: ignore[arg-type]
    await store.start()
    return store


def test_concurrent_deliveries_one_accepted_per_identifier(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            results = await asyncio.gather(
                *(store.writer.record(new(f"id-{i % 50}")) for i in range(500))
            )
            counts = Counter(r.status for r in results)
            assert counts == {DeliveryStatus.ACCEPTED: 50, DeliveryStatus.DUPLICATE: 450}
            ids = [r.id for r in results]
            assert len(set(ids)) == 500
            rows = await store.db.fetch_all(
                "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status"
            )
            assert {r["status"]: int(r["n"]) for r in rows} == {"accepted": 50, "duplicate": 450}
        finally:
            await store.close()

    asyncio.run(scenario())


def test_two_stores_on_one_database_agree_on_duplicates(database_url: str) -> None:
    async def scenario() -> None:
        first, second = await opened(database_url), await opened(database_url)
        try:
            results = await asyncio.gather(
                *(
                    (first if i % 2 else second).writer.record(new(f"shared-{i % 20}"))
                    for i in range(200)
                )
            )
            accepted = [r for r in results if r.status is DeliveryStatus.ACCEPTED]
            assert len(accepted) == 20
            row = await first.db.fetch_one(
                "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'accepted'"
            )
            assert row is not None and int(row["n"]) == 20
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


def test_rejections_are_bounded(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url, rejected_log_limit=30)
        try:
            for _ in range(10):
                for _ in range(25):
                    store.writer.record_rejection(new(None, DeliveryStatus.REJECTED))
                await store.writer.record(new(None))
            row = await store.db.fetch_one(
                "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'rejected'"
            )
            assert row is not None and int(row["n"]) <= 30 + 3
            accepted = await store.db.fetch_one(
                "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'accepted'"
            )
            assert accepted is not None and int(accepted["n"]) == 10
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_flood_of_rejections_is_dropped_not_queued_without_bound(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            for _ in range(10_000):
                store.writer.record_rejection(new(None, DeliveryStatus.REJECTED))
            assert store.writer.dropped_rejections > 0
            result = await store.writer.record(new("real-one"))
            assert result.status is DeliveryStatus.ACCEPTED
        finally:
            await store.close()

    asyncio.run(scenario())


def test_record_fails_loudly_when_the_log_is_not_running(sqlite_url: str) -> None:
    import pytest

    from addon.store import StoreUnavailable

    async def scenario() -> None:
        store = await open_store(sqlite_url)
        try:
            with pytest.raises(StoreUnavailable):
                await store.writer.record(new("x"))
        finally:
            await store.db.disconnect()

    asyncio.run(scenario())
