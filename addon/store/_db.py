"""The database connection: `databases` for connecting and pooling, raw driver calls for running SQL.

Measured on this project's hardware, a `databases` query through SQLAlchemy's compiler costs about
0.5 ms per statement on SQLite, and its SQLite backend opens a fresh aiosqlite connection (and thread)
for every task. So the store keeps `databases` for what it does well (URL handling, the asyncpg pool,
one connection per task) and runs its own plain SQL on the driver connection underneath, written once
with `?` placeholders and rewritten to `$n` for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from databases import Database

from addon.errors import ServiceUnavailable
from addon.store._files import create_private_sqlite_file

__all__ = [
    "Conflict",
    "Connection",
    "Contention",
    "Db",
    "Refused",
    "Row",
    "StoreUnavailable",
    "connect_database",
]

Row = Mapping[str, Any]
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_SECONDS = 5.0


class StoreUnavailable(ServiceUnavailable):
    """The database could not be reached or failed; answered 503 so Jira retries.

    What the driver said (`detail`, also `str()`) names tables, indexes and files: it goes to the
    server's log and the command line, never to a client, who is told `reason`.
    """

    code = "store_unavailable"
    generic_reason = "the database is unavailable; try again later"

    def __init__(self, detail: str) -> None:
        super().__init__(self.generic_reason)
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


class Conflict(Exception):
    """A uniqueness constraint refused a write (e.g. another instance stored the same delivery)."""


class Contention(StoreUnavailable):
    """Another instance's concurrent write made the database roll this one back (a deadlock, a
    serialization failure): nothing is wrong with the write, and it may be tried again."""


class Refused(StoreUnavailable):
    """The database refused a value of this write (out of range, too long for an index): the
    write is at fault, not the database, and other writes go on."""


@dataclass(frozen=True, slots=True)
class _DriverErrors:
    """The exceptions of a database driver: a uniqueness conflict, a refused value, and any
    other failure."""

    conflict: tuple[type[BaseException], ...]
    refused: tuple[type[BaseException], ...]
    failure: tuple[type[BaseException], ...]
    contention: tuple[type[BaseException], ...] = ()

    @property
    def known(self) -> tuple[type[BaseException], ...]:
        return (*self.conflict, *self.refused, *self.contention, *self.failure)

    def translated(self, exc: BaseException) -> Exception:
        """What to raise for one of the `known` exceptions: Conflict, Refused, Contention or
        StoreUnavailable."""
        if isinstance(exc, self.conflict):
            return Conflict(_describe(exc))
        if isinstance(exc, self.contention):
            return Contention(f"the database rolled back a write: {_describe(exc)}")
        if isinstance(exc, self.refused):
            return Refused(f"the database refused a value: {_describe(exc)}")
        return StoreUnavailable(f"the database failed: {_describe(exc)}")


@functools.cache
def _driver_errors(postgres: bool) -> _DriverErrors:
    """asyncpg is imported only for PostgreSQL: SQLite users do not pay its memory (~3 MiB)."""
    common = (OSError, ConnectionError, asyncio.TimeoutError)
    # A value the driver cannot bind (an int past 64 bits, text that is not UTF-8) or that SQLite
    # refuses (too big) is the write's fault.
    sqlite_refused = (sqlite3.DataError, OverflowError, UnicodeEncodeError)
    if not postgres:
        return _DriverErrors((sqlite3.IntegrityError,), sqlite_refused, (sqlite3.Error, *common))
    import asyncpg

    return _DriverErrors(
        (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError),
        # class 22 (data exception) and 54 (program limit: an index row too big); asyncpg's own
        # DataError (a value it cannot encode) is one of the first
        (*sqlite_refused, asyncpg.DataError, asyncpg.ProgramLimitExceededError),
        (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, *common),
        # class 40: a deadlock or serialization failure between instances writing at once
        (asyncpg.TransactionRollbackError,),
    )


@functools.lru_cache(maxsize=512)
def _to_postgres(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


class Db:
    """A connected database: SQLite file or PostgreSQL, with one small API for both."""

    def __init__(self, database: Database, *, postgres: bool, synchronous: str = "NORMAL") -> None:
        self.database = database
        self.postgres = postgres
        self.synchronous = synchronous
        self._errors = _driver_errors(postgres)

    @property
    def dialect(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A driver connection for this task; driver failures become `StoreUnavailable`."""
        try:
            async with self.database.connection() as conn:
                raw = conn.raw_connection
                if not self.postgres and raw.row_factory is not sqlite3.Row:
                    raw.row_factory = sqlite3.Row
                yield Connection(raw, postgres=self.postgres)
        except self._errors.failure as exc:
            raise StoreUnavailable(f"the database failed: {_describe(exc)}") from exc

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self.connection() as conn:
            return await conn.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self.connection() as conn:
            return await conn.fetch_one(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.connection() as conn:
            return await conn.execute(sql, params)

    async def ping(self) -> None:
        await self.fetch_one("SELECT 1 AS one")

    async def check_writable(self) -> None:
        """Commit one small write (the `health` row); StoreUnavailable if the database cannot
        write (disk full, read-only), which a read such as `ping` does not tell."""
        async with self.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO health (id, checked_at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                (time.time(),),
            )

    async def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self.database.disconnect()


class Connection:
    """One driver connection (aiosqlite or asyncpg) behind the same small set of calls."""

    def __init__(self, raw: Any, *, postgres: bool) -> None:
        self.raw = raw
        self.postgres = postgres
        self._errors = _driver_errors(postgres)

    def _sql(self, sql: str) -> str:
        return _to_postgres(sql) if self.postgres else sql

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            if self.postgres:
                return list(await self.raw.fetch(self._sql(sql), *params))
            return list(await self.raw.execute_fetchall(sql, tuple(params)))
        except self._errors.known as exc:
            raise self._errors.translated(exc) from exc

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        try:
            if self.postgres:
                status: str = await self.raw.execute(self._sql(sql), *params)
                last = status.rsplit(" ", 1)[-1]
                return int(last) if last.isdigit() else 0
            cursor = await self.raw.execute(sql, tuple(params))
            count: int = cursor.rowcount
            await cursor.close()
            return count
        except self._errors.known as exc:
            raise self._errors.translated(exc) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            if self.postgres:
                await self.raw.executemany(self._sql(sql), [tuple(row) for row in rows])
            else:
                await self.raw.executemany(sql, [tuple(row) for row in rows])
        except self._errors.known as exc:
            raise self._errors.translated(exc) from exc

    async def in_one_trip(self, work: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """`await work(connection, *args)`, on SQLite wholly in the database's thread.

        aiosqlite runs each statement in its thread and wakes the event loop with the result: a
        transaction of six statements makes eight round trips through a loop that is busy with
        requests, each waiting its turn. Here `work` runs in that thread from start to end, with a
        connection whose calls run at once, and the loop is woken once. `work` must await nothing
        but that connection's calls. On PostgreSQL (or an aiosqlite without the internal
        `_execute` this relies on) it simply runs here.
        """
        run_there = getattr(self.raw, "_execute", None)
        if self.postgres or run_there is None:
            return await work(self, *args)

        def run() -> T:
            coroutine = work(_InThread(self.raw._conn), *args)
            try:
                coroutine.send(None)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
            coroutine.close()
            raise RuntimeError("work run in the database thread awaited something else")

        try:
            return await run_there(run)  # type: ignore[no-any-return]
        except self._errors.known as exc:
            raise self._errors.translated(exc) from exc

    async def execute_script(self, statements: Sequence[str]) -> None:
        for statement in statements:
            await self.execute(statement)

    @contextlib.asynccontextmanager
    async def transaction(self, *, immediate: bool = True) -> AsyncIterator[None]:
        """A transaction; on SQLite `BEGIN IMMEDIATE` takes the write lock up front."""
        begin = "BEGIN" if self.postgres or not immediate else "BEGIN IMMEDIATE"
        await self.execute(begin)
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                await self.execute("ROLLBACK")
            raise
        await self.execute("COMMIT")


class _InThread(Connection):
    """The calls of `Connection` on a sqlite3 connection, run synchronously in its own thread
    (see `Connection.in_one_trip`): every await on them completes without suspending."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        super().__init__(raw, postgres=False)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return list(self.raw.execute(sql, tuple(params)).fetchall())
        except self._errors.known as exc:
            raise self._errors.translated(exc) from exc

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            cursor = self.raw.execute(sql, tuple(params))
            count: int = cursor.rowcount
            cursor.close()
            return count
        except self._errors.known as exc:
            raise self._errors.translated(exc) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.raw.executemany(sql, [tuple(row) for row in rows])
        except self._errors.known as exc:
            raise self._errors.translated(exc) from exc

    async def in_one_trip(self, work: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        return await work(self, *args)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def connect_database(url: str, *, synchronous: str = "NORMAL") -> Db:
    """Connect to `url` (sqlite:///PATH or postgresql://...); raises StoreUnavailable if it cannot."""
    postgres = url.startswith(("postgres://", "postgresql://"))
    if postgres:
        driver_url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        database = Database(driver_url, min_size=1, max_size=10, command_timeout=10)
    else:
        create_private_sqlite_file(url)
        _check_sqlite_file(url)
        database = Database(url, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    db = Db(database, postgres=postgres, synchronous=synchronous)
    try:
        await asyncio.wait_for(database.connect(), timeout=10)
        await db.ping()
    except StoreUnavailable:
        await db.disconnect()
        raise
    except _driver_errors(postgres).failure as exc:
        await db.disconnect()
        raise StoreUnavailable(f"cannot connect to the database: {_describe(exc)}") from exc
    return db


def _check_sqlite_file(url: str) -> None:
    """Open the SQLite file once, here, so that a path that cannot work is one clear line.

    (aiosqlite, when a file fails to open, stops its thread only after the failure is raised,
    and that thread then reports to an event loop that is already closed.)
    """
    path = Path(urlsplit(url).path[1:])
    if str(path) == ":memory:":
        return
    if not path.parent.is_dir():
        raise StoreUnavailable(
            f"the folder {path.parent} of the SQLite file {path} does not exist;"
            " create it, or choose another path"
        )
    if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreUnavailable(
            f"cannot create the SQLite file {path}: its folder is not writable by this user"
        )
    try:
        sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS).close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the SQLite file {path}: {exc}") from None
