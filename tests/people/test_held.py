"""Deliveries held for an account: found in arrival order, released in that order, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import time

from addon.people import (
    HELD,
    Account,
    AccountType,
    Directory,
    Handling,
    HeldDeliveries,
    Person,
    UnmappedActors,
)
from addon.store import DeliveryStatus, HandlerState, NewDelivery, Store
from tests.people.support import OTHER_SITE, SITE, run


def delivery(webhook_id: str, actor: str) -> NewDelivery:
    body = {"webhookEvent": "jira:issue_updated", "user": {"accountId": actor}}
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=DeliveryStatus.ACCEPTED,
        event="jira:issue_updated",
        webhook_id=webhook_id,
        body=json.dumps(body).encode(),
    )


async def states(store: Store, ids: list[int]) -> list[str]:
    found = []
    for delivery_id in ids:
        row = await store.db.fetch_one(
            "SELECT handler_state FROM deliveries WHERE id = ?", (delivery_id,)
        )
        assert row is not None
        found.append(row["handler_state"])
    return found


def test_held_deliveries_wait_for_their_account_and_leave_in_arrival_order(
    database_url: str,
) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        held = HeldDeliveries(store.db)
        ids = [(await store.writer.record(delivery(f"w{n}", "acc-1"))).id for n in range(4)]
        other = (await store.writer.record(delivery("w-other", "acc-2"))).id
        elsewhere = (await store.writer.record(delivery("w-else", "acc-1"))).id
        for delivery_id in (ids[2], ids[0], ids[3], ids[1]):  # held in any order
            assert await held.hold(delivery_id, SITE, "acc-1") is True
        assert await held.hold(other, SITE, "acc-2") is True
        assert await held.hold(elsewhere, OTHER_SITE, "acc-1") is True
        assert await held.hold(ids[0], SITE, "acc-1") is False  # no longer pending
        assert await held.waiting_for("acc-1", SITE) == ids
        assert await held.waiting_for("acc-1") == [*ids, elsewhere]
        assert await states(store, [*ids, other]) == [HELD] * 5
        assert await held.count() == 6
        assert await store.queue.claim("w1", lease_seconds=30, limit=10) == []  # kept back

        assert await held.release(SITE, "acc-1") == ids
        assert await held.waiting_for("acc-1", SITE) == []
        assert await held.waiting_for("acc-2") == [other]
        first = await store.queue.claim("w1", lease_seconds=30, limit=2)  # oldest first
        assert sorted(d.id for d in first) == ids[:2]
        rest = await store.queue.claim("w1", lease_seconds=30, limit=10)
        assert sorted(d.id for d in rest) == ids[2:]

    run(database_url, scenario)


def test_held_deliveries_are_never_pruned_until_released(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        held = HeldDeliveries(store.db)
        kept = (await store.writer.record(delivery("w-held", "acc-1"))).id
        gone = (await store.writer.record(delivery("w-done", "acc-2"))).id
        assert await held.hold(kept, SITE, "acc-1") is True
        later = time.time() + 3600
        assert await store.deliveries.prune(older_than=later) == 1
        assert await store.deliveries.get(gone) is None
        assert await held.waiting_for("acc-1") == [kept]
        shown = await store.deliveries.get(kept)
        assert shown is not None
        assert shown.handler_state is HandlerState.HELD
        assert await held.release(SITE, "acc-1") == [kept]
        assert await store.deliveries.prune(older_than=later) == 1
        assert await store.deliveries.get(kept) is None

    run(database_url, scenario)


def test_the_decision_looks_the_actor_up_as_it_is_now(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        hold = UnmappedActors.HOLD
        assert await directory.handling_for(hold, SITE, None) is Handling.DELIVER
        assert await directory.handling_for(hold, SITE, "never-seen") is Handling.HOLD
        await directory.account_changed(Account(SITE, "app-1", AccountType.APP, "Bot"))
        assert await directory.handling_for(hold, SITE, "app-1") is Handling.DELIVER
        await directory.account_changed(Account(SITE, "acc-1", AccountType.ATLASSIAN, "Ada"))
        assert await directory.handling_for(hold, SITE, "acc-1") is Handling.HOLD
        assert await directory.handling_for(UnmappedActors.SKIP, SITE, "acc-1") is Handling.SKIP
        await directory.upsert(Person("p1"))
        await directory.map(SITE, "acc-1", "p1")
        assert await directory.handling_for(hold, SITE, "acc-1") is Handling.DELIVER
        assert await directory.handling_for(hold, OTHER_SITE, "acc-1") is Handling.HOLD

    run(database_url, scenario)
