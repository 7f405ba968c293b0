"""Fresh databases for the runs, and the check that every 2xx answer was stored."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from bench._wrk import LoadResult

__all__ = ["check_stored", "database", "migrate", "status_counts"]


@contextmanager
def database(kind: str, workdir: Path, name: str, admin_url: str | None) -> Iterator[str]:
    """A fresh database: a SQLite file in `workdir`, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        directory = workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("addon.db*"):
            old.unlink()
        yield f"sqlite:///{directory}/addon.db"
        return
    assert admin_url is not None
    db_name = f"addon_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            if sql.startswith("DROP"):
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    db_name,
                )
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{db_name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + db_name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{db_name}"'))


def status_counts(database_url: str) -> dict[str, int]:
    """How many deliveries of each status the log holds."""
    sql = "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status"
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
        try:
            return {status: n for status, n in conn.execute(sql)}
        finally:
            conn.close()

    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(database_url)
        try:
            return {r["status"]: r["n"] for r in await conn.fetch(sql)}
        finally:
            await conn.close()

    return asyncio.run(read())


def check_stored(
    before: dict[str, int], after: dict[str, int], load: LoadResult
) -> tuple[bool, str]:
    """Every 2xx answer is one accepted delivery in the log, and nothing else was written."""
    delta = {s: after.get(s, 0) - before.get(s, 0) for s in set(before) | set(after)}
    accepted = delta.pop("accepted", 0)
    others = {s: n for s, n in delta.items() if n}
    if load.drained and load.issued == load.answered:
        good = (
            accepted == load.ok
            and not (others.keys() - {"rejected"})
            and (others.get("rejected", 0) <= load.non2xx)
        )
        text = f"stored {accepted} = {load.ok} 2xx" if good else f"stored {accepted}, 2xx {load.ok}"
    else:  # answers lost to socket errors: those deliveries may or may not have been stored
        good = load.ok <= accepted <= load.issued and not (others.keys() - {"rejected"})
        text = f"stored {accepted}, 2xx {load.ok}, issued {load.issued} (not drained)"
    if others:
        text += f"; also {others}"
    return good, text


async def migrate(database_url: str) -> None:
    """Create the tables in the (empty) database, as the add-on does at start-up."""
    from addon.store import open_store

    store = await open_store(database_url, encrypt_existing=False)
    await store.db.disconnect()
