"""Versioned schema migrations, applied at start-up, safely when several instances start at once."""

from __future__ import annotations

import asyncio
import time

from addon.store._db import SQLITE_BUSY_TIMEOUT_SECONDS, Connection, Db, StoreUnavailable
from addon.store._schema import MIGRATIONS, Migration

__all__ = ["MIGRATIONS", "Migration", "migrate"]

POSTGRES_MIGRATION_LOCK = 0x6A697261  # any fixed number; "jira"


async def migrate(db: Db) -> list[int]:
    """Bring the schema up to date; returns the versions applied by this call."""
    async with db.connection() as conn:
        if db.postgres:
            await conn.execute("SELECT pg_advisory_lock(?)", (POSTGRES_MIGRATION_LOCK,))
            try:
                return await _apply(conn, db)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(?)", (POSTGRES_MIGRATION_LOCK,))
        await _enable_wal(conn)
        return await _apply(conn, db)


async def _enable_wal(conn: Connection) -> None:
    """Put the SQLite file in WAL mode.

    Changing the journal mode does not wait on SQLite's busy handler, so when several processes
    start on a fresh file at once (`addon serve --workers N`), all but one find it locked: retry.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def _apply(conn: Connection, db: Db) -> list[int]:
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at "
            + ("DOUBLE PRECISION" if db.postgres else "REAL")
            + " NOT NULL)"
        )
    rows = await conn.fetch_all("SELECT version FROM schema_migrations")
    done = {int(row["version"]) for row in rows}
    # By version, each on its own: a migration numbered below one already applied (branches that
    # were merged later) is applied all the same.
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if migration.version in done:
            continue
        async with conn.transaction():
            again = await conn.fetch_one(
                "SELECT version FROM schema_migrations WHERE version = ?", (migration.version,)
            )
            if again is not None:
                continue
            statements = migration.postgresql if db.postgres else migration.sqlite
            await conn.execute_script(statements)
            await conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, time.time()),
            )
        applied.append(migration.version)
    return applied
