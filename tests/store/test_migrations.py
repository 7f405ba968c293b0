"""Migrations: idempotent, and safe when several instances start at the same moment."""

from __future__ import annotations

import asyncio
import time

import pytest

from addon.store import (
    MIGRATIONS,
    DeliveryFilter,
    DeliveryStatus,
    NewDelivery,
    connect_database,
    migrate,
    open_store,
)


def test_migrations_apply_once(database_url: str) -> None:
    async def scenario() -> None:
        db = await connect_database(database_url)
        try:
            assert await migrate(db) == [m.version for m in MIGRATIONS]
            assert await migrate(db) == []
        finally:
            await db.disconnect()

    asyncio.run(scenario())


def test_concurrent_startups_migrate_exactly_once(database_url: str) -> None:
    async def one() -> list[int]:
        db = await connect_database(database_url)
        try:
            return await migrate(db)
        finally:
            await db.disconnect()

    async def scenario() -> None:
        results = await asyncio.gather(*(one() for _ in range(8)))
        applied = sorted(v for result in results for v in result)
        assert applied == [m.version for m in MIGRATIONS]
        db = await connect_database(database_url)
        try:
            rows = await db.fetch_all("SELECT version FROM schema_migrations ORDER BY version")
            assert [int(r["version"]) for r in rows] == [m.version for m in MIGRATIONS]
        finally:
            await db.disconnect()

    asyncio.run(scenario())


def test_a_log_written_before_version_4_is_still_searched_and_deduplicated(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 4 rebuilds the duplicate guard with the identifier first, over existing rows."""
    import addon.store._migrations as migrations

    async def scenario() -> None:
        monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:3])
        db = await connect_database(database_url)
        try:
            await migrate(db)
            # As the writer of version 3 stored it: the identifier among the delivery's keys.
            await db.execute(
                "INSERT INTO deliveries (received_at, origin_kind, origin, status, event, "
                "webhook_id, handler_state) VALUES (?, 'connect', 'tenant', 'accepted', "
                "'jira:issue_updated', 'w-1', 'none')",
                (time.time(),),
            )
            row = await db.fetch_one("SELECT id FROM deliveries WHERE webhook_id = 'w-1'")
            assert row is not None
            old_id = int(row["id"])
            for key in ("PRJ-1", "w-1"):
                await db.execute(
                    "INSERT INTO delivery_keys (search_key, delivery_id) VALUES (?, ?)",
                    (key, old_id),
                )
            monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
            assert await migrate(db) == [m.version for m in MIGRATIONS if m.version >= 4]
        finally:
            await db.disconnect()
        store = await open_store(database_url)
        await store.start()
        try:
            assert (await store.writer.record(delivery("w-1"))).duplicate_of == old_id
            found = await store.deliveries.page(DeliveryFilter(q="w-1"), limit=10)
            assert [d.id for d in found][-1] == old_id
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_version_numbered_below_the_newest_applied_is_still_applied(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Branches merged in another order leave gaps: a database that has every version but 2
    (as if 2 had been merged last) takes 2 at the next start."""
    import addon.store._migrations as migrations

    without_2 = tuple(m for m in MIGRATIONS if m.version != 2)

    async def scenario() -> None:
        db = await connect_database(database_url)
        try:
            monkeypatch.setattr(migrations, "MIGRATIONS", without_2)
            assert await migrate(db) == [m.version for m in without_2]
            monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
            assert await migrate(db) == [2]
            assert await migrate(db) == []
            assert await db.fetch_all("SELECT url_template FROM sources") == []
        finally:
            await db.disconnect()

    asyncio.run(scenario())


def delivery(webhook_id: str) -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant",
        status=DeliveryStatus.ACCEPTED,
        event="jira:issue_updated",
        webhook_id=webhook_id,
        search_keys=("PRJ-1", webhook_id),
    )


def test_versions_ascend_and_may_skip_numbers() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions))
    assert 8 in versions


def test_version_8_remembers_the_installation_ids_already_stored(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import addon.store._migrations as migrations

    async def scenario() -> None:
        monkeypatch.setattr(migrations, "MIGRATIONS", tuple(m for m in MIGRATIONS if m.version < 8))
        store = await open_store(database_url)
        installed = {"key": "a", "clientKey": "c-1", "sharedSecret": "s", "baseUrl": "https://x"}
        await store.tenants.save_installation(installed, iat=1)
        await store.db.execute(
            "UPDATE tenants SET installation_id = ? WHERE client_key = ?",
            ("ari:cloud:ecosystem::installation/9", "c-1"),
        )
        await store.db.disconnect()
        monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
        store = await open_store(database_url)
        try:
            assert await store.tenants.installation_ids("c-1") == (
                "ari:cloud:ecosystem::installation/9",
            )
        finally:
            await store.db.disconnect()

    asyncio.run(scenario())
