"""The delivery writer on both databases: group commit, duplicates, the bounded rejection lane."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from addon.store import (
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    NewDelivery,
    Recorded,
    Store,
    StoreUnavailable,
    open_store,
    replay_digest,
)
from addon.store._db import Contention


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


def poisons(store: Store) -> list[NewDelivery]:
    """Deliveries the database itself refuses, past the writer's own rules: a number out of the
    column's range, and on PostgreSQL an identifier of 4,000 random characters (past the btree's
    row limit)."""
    found = [dataclasses.replace(new("out-of-range"), retry=2**70)]
    if store.db.postgres:
        found.append(new(secrets.token_urlsafe(3_000)))
    return found


def test_a_row_the_database_refuses_is_refused_alone(database_url: str) -> None:
    """The batch it shares is written again one by one: every other delivery is stored."""

    async def scenario() -> None:
        store = await opened(database_url)
        try:
            for poison in poisons(store):
                outcomes = await asyncio.gather(
                    *(store.writer.record(new(f"beside-{i}")) for i in range(50)),
                    store.writer.record(poison),
                    *(store.writer.record(new(f"after-{i}")) for i in range(50)),
                    return_exceptions=True,
                )
                refused = outcomes.pop(50)
                assert isinstance(refused, StoreUnavailable), refused
                assert refused.reason == StoreUnavailable.generic_reason
                assert all(isinstance(o, Recorded) for o in outcomes), outcomes
                assert {o.status for o in outcomes if isinstance(o, Recorded)} == {
                    DeliveryStatus.ACCEPTED
                }
                row = await store.db.fetch_one(
                    "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'accepted'"
                )
                assert row is not None and int(row["n"]) == 100
                await store.db.execute("DELETE FROM delivery_keys")
                await store.db.execute("DELETE FROM deliveries")
            again = await store.writer.record(new("later"))  # and the writer goes on
            assert again.status is DeliveryStatus.ACCEPTED
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_search_key_too_long_to_index_is_stored_but_not_indexed(database_url: str) -> None:
    long_key = secrets.token_urlsafe(3_000)  # 4,000 characters

    async def scenario() -> None:
        store = await opened(database_url)
        try:
            delivery = dataclasses.replace(
                new("long-key"), issue_key=long_key, search_keys=("PRJ-1", long_key)
            )
            beside = [store.writer.record(new(f"beside-{i}")) for i in range(20)]
            recorded, *others = await asyncio.gather(store.writer.record(delivery), *beside)
            assert recorded.status is DeliveryStatus.ACCEPTED
            assert {o.status for o in others} == {DeliveryStatus.ACCEPTED}
            stored = await store.deliveries.get(recorded.id)
            assert stored is not None and stored.issue_key == long_key
            rows = await store.db.fetch_all(
                "SELECT search_key FROM delivery_keys WHERE delivery_id = ?", (recorded.id,)
            )
            assert [r["search_key"] for r in rows] == ["PRJ-1"]
        finally:
            await store.close()

    asyncio.run(scenario())


def stored_size(row: Mapping[str, Any]) -> int:
    """The bytes of a row's text and binary values, as the database holds them."""
    values = [row[name] for name in dict(row)] if hasattr(row, "items") else list(row)
    return sum(
        len(v) if isinstance(v, bytes) else len(v.encode("utf-8"))
        for v in values
        if isinstance(v, str | bytes)
    )


def huge_rejection(n: int = 0) -> NewDelivery:
    return dataclasses.replace(
        new(f"huge-{n}" + "i" * 5_000, DeliveryStatus.REJECTED),
        reason="r" * 10_000,
        path="/webhooks/jira/x?" + "q" * 100_000,
        canonical_request="POST&/webhooks/jira/x&" + "q" * 100_000,
        headers={f"x-header-{i}": "v" * 2_000 for i in range(5_000)},
        token={"header": {"kid": "k" * 100_000}, "claims": {"iss": "\ud800" * 1_000}},
        body=b"b" * 200_000,
        body_size=200_000,
    )


def test_a_rejection_stores_at_most_64_kib_in_all(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            store.writer.record_rejection(huge_rejection())
            await store.writer.record(new("flush"))
            rows = await store.db.fetch_all("SELECT * FROM deliveries WHERE status = 'rejected'")
            assert len(rows) == 1
            assert stored_size(rows[0]) <= 64 * 1024
            kept = Delivery.from_row(rows[0])
            assert kept.headers and len(kept.headers) < 5_000  # whole headers, as many as fit
            assert all(value == "v" * 2_000 for value in kept.headers.values())
            assert kept.body_size == 200_000
        finally:
            await store.close()

    asyncio.run(scenario())


def test_the_rejection_log_is_bounded_by_bytes(database_url: str) -> None:
    limit = 1024 * 1024

    async def scenario() -> None:
        store = await opened(database_url, rejected_log_max_bytes=limit)
        try:
            for round_ in range(10):
                for n in range(10):
                    store.writer.record_rejection(huge_rejection(round_ * 10 + n))
                await store.writer.record(new(f"flush-{round_}"))
            rows = await store.db.fetch_all(
                "SELECT * FROM deliveries WHERE status = 'rejected' ORDER BY id"
            )
            total = sum(stored_size(row) for row in rows)
            assert total <= limit + limit // 10 + 64 * 1024, total
            assert rows and str(rows[-1]["webhook_id"]).startswith("huge-99")  # newest kept
        finally:
            await store.close()

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


def test_a_batch_rolled_back_by_contention_is_written_again(database_url: str) -> None:
    """A deadlock with another instance (PostgreSQL rolls one writer back) costs no delivery its
    commit: the batch is written again one by one."""

    async def scenario() -> None:
        store = await opened(database_url)
        write = store.writer._write
        contended = 0

        async def once_contended(*args: Any) -> Any:
            nonlocal contended
            if contended == 0:
                contended += 1
                raise Contention("deadlock detected")
            return await write(*args)

        store.writer._write = once_contended  # type: ignore[method-assign]
        try:
            results = await asyncio.gather(*(store.writer.record(new(f"c-{i}")) for i in range(20)))
            assert contended == 1
            assert {r.status for r in results} == {DeliveryStatus.ACCEPTED}
            assert len({r.id for r in results}) == 20
        finally:
            await store.close()

    asyncio.run(scenario())
