"""The delivery writer on both databases: group commit, duplicates, the bounded rejection lane."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from addon.store import (
    DeliveryFilter,
    DeliveryStatus,
    NewDelivery,
    Store,
    open_store,
    replay_digest,
)


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


def signed(
    webhook_id: str | None, token: str = "token-1", body: bytes = b'{"issue":{"key":"PRJ-1"}}'
) -> NewDelivery:
    """A verified delivery as ingest hands it over: with its token's digest."""
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=DeliveryStatus.ACCEPTED,
        event="jira:issue_updated",
        webhook_id=webhook_id,
        body=body,
        search_keys=("PRJ-1",),
        token_digest=replay_digest(token),
    )


async def reused_flags(store: Store) -> dict[int, bool]:
    rows = await store.db.fetch_all("SELECT id FROM deliveries ORDER BY id")
    found = [await store.deliveries.get(int(row["id"])) for row in rows]
    return {d.id: d.token_reused for d in found if d is not None}


def test_a_token_reused_under_a_new_identifier_is_accepted_and_marked(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            first = await store.writer.record(signed("wh-1"))
            again = await store.writer.record(signed("wh-2", body=b'{"forged":true}'))
            other = await store.writer.record(signed("wh-3", token="token-2"))
            assert (first.status, first.token_reused) == (DeliveryStatus.ACCEPTED, False)
            assert (again.status, again.token_reused) == (DeliveryStatus.ACCEPTED, True)
            assert (other.status, other.token_reused) == (DeliveryStatus.ACCEPTED, False)
            assert await reused_flags(store) == {first.id: False, again.id: True, other.id: False}
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_token_replayed_with_its_identifier_and_another_body_is_rejected(
    database_url: str,
) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            first = await store.writer.record(signed("wh-1"))
            replay = await store.writer.record(signed("wh-1", body=b'{"forged":true}'))
            assert replay.status is DeliveryStatus.REJECTED and replay.reason
            assert "replay" in replay.reason
            stored = await store.deliveries.get(replay.id)
            assert stored is not None and stored.status is DeliveryStatus.REJECTED
            assert stored.error_code == "token_replayed" and stored.token_reused
            assert stored.body == b'{"forged":true}'
            # Jira's retry (the same token and body) is the duplicate it always was.
            retry = await store.writer.record(signed("wh-1"))
            assert (retry.status, retry.duplicate_of) == (DeliveryStatus.DUPLICATE, first.id)
            # A reused token keeps its new identifier too: no other body under it either.
            reused = await store.writer.record(signed("wh-2", body=b'{"second":1}'))
            again = await store.writer.record(signed("wh-2", body=b'{"second":2}'))
            assert reused.token_reused and again.status is DeliveryStatus.REJECTED
            # Without an identifier, the token's first body is the only one it may come with.
            bare = await store.writer.record(signed(None, token="token-3"))
            assert bare.status is DeliveryStatus.ACCEPTED
            forged = await store.writer.record(signed(None, token="token-3", body=b"{}"))
            assert forged.status is DeliveryStatus.REJECTED
            accepted = await store.deliveries.page(DeliveryFilter(status="accepted"), limit=10)
            assert sorted(d.id for d in accepted) == sorted([first.id, reused.id, bare.id])
        finally:
            await store.close()

    asyncio.run(scenario())


def test_one_batch_and_two_instances_agree_on_the_first_of_a_token(database_url: str) -> None:
    """Jira sends one token to two webhooks of a URL in the same second: both are accepted."""

    async def scenario() -> None:
        first, second = await opened(database_url), await opened(database_url)
        try:
            results = await asyncio.gather(
                *(
                    (first if n % 2 else second).writer.record(
                        signed(f"wh-{n}", token=f"t-{n % 5}")
                    )
                    for n in range(60)
                )
            )
            assert {r.status for r in results} == {DeliveryStatus.ACCEPTED}
            assert Counter(r.token_reused for r in results) == {True: 55, False: 5}
            rows = await first.db.fetch_all(
                "SELECT token_digest, COUNT(*) AS n FROM deliveries WHERE token_reused = 0"
                " GROUP BY token_digest"
            )
            assert sorted(int(r["n"]) for r in rows) == [1] * 5
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


def test_token_digests_leave_with_their_deliveries(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            await store.writer.record(signed("wh-1"))
            assert await store.deliveries.prune(older_than=time.time() + 1) == 1
            again = await store.writer.record(signed("wh-2", body=b"{}"))
            assert (again.status, again.token_reused) == (DeliveryStatus.ACCEPTED, False)
        finally:
            await store.close()

    asyncio.run(scenario())
