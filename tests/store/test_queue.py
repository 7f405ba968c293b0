"""The work queue's replay: only finished handler work of accepted deliveries, queued once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from addon.store import (
    DeliveryStatus,
    HandlerState,
    NewDelivery,
    NotReplayable,
    Store,
    open_store,
    replay_refusal,
)


def new(webhook_id: str, status: DeliveryStatus = DeliveryStatus.ACCEPTED) -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=status,
        event="jira:issue_updated",
        webhook_id=webhook_id,
        body=b"{}",
        reason="tenant tenant-1 is disabled" if status is DeliveryStatus.IGNORED else None,
    )


def run(url: str, scenario: Callable[[Store], Awaitable[None]], **options: object) -> None:
    async def go() -> None:
        store = await open_store(url, handler_state=HandlerState.PENDING, **options)  # type: ignore[arg-type]
        await store.start()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(go())


async def finished(store: Store, webhook_id: str, *, failed: bool = False) -> int:
    """An accepted delivery whose handlers ran (three attempts), done or failed."""
    recorded = await store.writer.record(new(webhook_id))
    for attempt in (1, 2, 3):
        [claimed] = await store.queue.claim("worker-1", lease_seconds=30, limit=1)
        assert claimed.id == recorded.id and claimed.attempts == attempt
        if attempt < 3:
            assert await store.queue.fail("worker-1", recorded.id, "boom", retry_at=0.0)
    if failed:
        assert await store.queue.fail("worker-1", recorded.id, "boom", retry_at=None)
    else:
        assert await store.queue.complete("worker-1", recorded.id)
    return recorded.id


@pytest.mark.parametrize("failed", [False, True], ids=["done", "failed"])
def test_a_finished_delivery_is_queued_again_from_attempt_one(
    database_url: str, failed: bool
) -> None:
    async def scenario(store: Store) -> None:
        delivery_id = await finished(store, "w-1", failed=failed)
        before = time.time()
        replayed = await store.queue.replay(delivery_id)
        assert replayed is not None
        assert replayed.handler_state is HandlerState.PENDING
        assert (replayed.attempts, replayed.replays) == (0, 1)
        assert replayed.last_error is None and replayed.completed_at is None
        assert replayed.replayed_at is not None and replayed.replayed_at >= before
        [claimed] = await store.queue.claim("worker-2", lease_seconds=30, limit=5)
        assert (claimed.id, claimed.attempts) == (delivery_id, 1)
        assert await store.queue.claim("worker-3", lease_seconds=30, limit=5) == []
        assert await store.queue.complete("worker-2", delivery_id)
        again = await store.queue.replay(delivery_id)
        assert again is not None and again.replays == 2
        assert again.replayed_at is not None and again.replayed_at >= replayed.replayed_at
        stored = await store.deliveries.get(delivery_id)
        assert stored is not None and (stored.replays, stored.replayed_at) == (2, again.replayed_at)

    run(database_url, scenario)


def test_unfinished_or_unaccepted_deliveries_are_refused_with_a_reason(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        original = await finished(store, "w-original")
        pending = await store.writer.record(new("w-pending"))
        duplicate = await store.writer.record(new("w-original"))
        assert duplicate.status is DeliveryStatus.DUPLICATE
        ignored = await store.writer.record(new("w-ignored", DeliveryStatus.IGNORED))
        cases = {
            pending.id: "have not finished",
            duplicate.id: f"replay {original}",
            ignored.id: "not accepted",
        }
        for delivery_id, reason in cases.items():
            with pytest.raises(NotReplayable) as caught:
                await store.queue.replay(delivery_id)
            assert reason in caught.value.reason and str(delivery_id) in caught.value.reason
            stored = await store.deliveries.get(delivery_id)
            assert stored is not None and stored.replays == 0 and stored.replayed_at is None
        assert await store.queue.replay(999_999) is None

    run(database_url, scenario)


def test_without_handlers_there_is_no_run_to_repeat(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        recorded = await store.writer.record(new("w-1"))
        with pytest.raises(NotReplayable, match="no handler run to repeat"):
            await store.queue.replay(recorded.id)

    async def go() -> None:
        store = await open_store(sqlite_url)
        await store.start()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(go())


def test_a_rejected_delivery_is_never_replayed(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        store.writer.record_rejection(new("w-1", DeliveryStatus.REJECTED))
        deadline = time.monotonic() + 5
        while not (rows := await store.deliveries.after(0)):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert replay_refusal(rows[0]) == f"delivery {rows[0].id} was rejected: a refused " + (
            "request never reaches the handlers"
        )
        with pytest.raises(NotReplayable, match="rejected"):
            await store.queue.replay(rows[0].id)

    run(sqlite_url, scenario)


def test_replays_at_the_same_moment_queue_one_run(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        delivery_id = await finished(store, "w-1")
        others = [await open_store(database_url) for _ in range(3)]
        try:
            outcomes = await asyncio.gather(
                *(s.queue.replay(delivery_id) for s in (store, *others)), return_exceptions=True
            )
        finally:
            for other in others:
                await other.db.disconnect()
        assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 1
        assert all(isinstance(o, NotReplayable) for o in outcomes if isinstance(o, BaseException))
        stored = await store.deliveries.get(delivery_id)
        assert stored is not None and stored.replays == 1

    run(database_url, scenario)
