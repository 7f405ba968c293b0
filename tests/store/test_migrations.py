"""Migrations: idempotent, and safe when several instances start at the same moment."""

from __future__ import annotations

import asyncio

from addon.store import MIGRATIONS, connect_database, migrate


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
