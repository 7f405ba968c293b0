"""The database layer: a SQLite user never loads the PostgreSQL driver, both report failures alike."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from addon.store import StoreUnavailable, connect_database
from addon.store._db import Conflict, Contention

ROOT = Path(__file__).resolve().parents[2]


def test_a_sqlite_server_does_not_import_asyncpg(tmp_path: Path) -> None:
    """asyncpg costs ~3 MiB of resident memory, and the issue #7 budget is 80 MiB under load."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from addon.app import create_app
        from addon.settings import Settings
        from addon.store import open_store

        async def main():
            store = await open_store("sqlite:///{tmp_path / "addon.db"}")
            await store.start()
            await store.db.ping()
            await store.close()

        create_app(Settings(database_url="sqlite:///{tmp_path / "other.db"}"))
        asyncio.run(main())
        print("asyncpg" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_sqlite_failures_are_store_unavailable(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await connect_database(f"sqlite:///{tmp_path / 'addon.db'}")
        try:
            with pytest.raises(StoreUnavailable, match="no such table"):
                await db.fetch_all("SELECT * FROM missing")
            await db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
            await db.execute("INSERT INTO t VALUES ('a')")
            async with db.connection() as conn:
                with pytest.raises(Conflict):
                    await conn.execute("INSERT INTO t VALUES ('a')")
        finally:
            await db.disconnect()

    asyncio.run(scenario())


@pytest.mark.postgres
def test_postgres_failures_are_store_unavailable_and_conflicts(postgres_url: str) -> None:
    async def scenario() -> None:
        db = await connect_database(postgres_url)
        try:
            with pytest.raises(StoreUnavailable, match="UndefinedTableError"):
                await db.fetch_all("SELECT * FROM missing_table_for_this_test")
            await db.execute("CREATE TABLE db_layer_test (k TEXT PRIMARY KEY)")
            try:
                await db.execute("INSERT INTO db_layer_test VALUES ('a')")
                async with db.connection() as conn:
                    with pytest.raises(Conflict):
                        await conn.execute("INSERT INTO db_layer_test VALUES ('a')")
            finally:
                await db.execute("DROP TABLE db_layer_test")
        finally:
            await db.disconnect()

    asyncio.run(scenario())


@pytest.mark.postgres
def test_a_deadlock_between_two_writers_is_contention(postgres_url: str) -> None:
    """PostgreSQL rolls one of two deadlocked writes back: that is Contention (a write to try
    again, as the delivery writer does), not a failure of the database."""

    async def scenario() -> None:
        db = await connect_database(postgres_url)
        try:
            await db.execute("CREATE TABLE db_deadlock_test (k TEXT PRIMARY KEY, n INTEGER)")
            await db.execute("INSERT INTO db_deadlock_test VALUES ('a', 0), ('b', 0)")
            both_locked = asyncio.Barrier(2)

            async def lock(first: str, second: str) -> None:
                async with db.connection() as conn, conn.transaction():
                    await conn.execute("UPDATE db_deadlock_test SET n = 1 WHERE k = ?", (first,))
                    await both_locked.wait()
                    await conn.execute("UPDATE db_deadlock_test SET n = 2 WHERE k = ?", (second,))

            outcomes = await asyncio.gather(lock("a", "b"), lock("b", "a"), return_exceptions=True)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            assert len(failed) == 1, outcomes
            assert isinstance(failed[0], Contention), failed[0]
            assert isinstance(failed[0], StoreUnavailable)  # elsewhere still a 503, as before
        finally:
            await db.execute("DROP TABLE IF EXISTS db_deadlock_test")
            await db.disconnect()

    asyncio.run(scenario())
