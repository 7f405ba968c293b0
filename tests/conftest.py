"""Shared fixtures: real databases (a SQLite file, the machine's PostgreSQL) and the strict-CI switch."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

STRICT = os.environ.get("ADDON_TEST_STRICT") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "ADDON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def unavailable(what: str, why: str) -> None:
    """Skip on a user's machine that lacks `what`; fail in CI, where everything is mandatory."""
    message = f"{what} is not available here: {why}"
    if STRICT:
        pytest.fail(message + " (ADDON_TEST_STRICT=1 makes it mandatory)")
    pytest.skip(message)


def _postgres_admin() -> object:
    import asyncio

    import asyncpg

    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return exc
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the machine's PostgreSQL, or a skip (a failure in CI)."""
    error = _postgres_admin()
    if error is not None:
        unavailable("PostgreSQL", f"{POSTGRES_ADMIN_URL}: {error}")
    return POSTGRES_ADMIN_URL


def _run(coro: object) -> object:
    import asyncio

    return asyncio.run(coro)  # type: ignore[arg-type]


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database of its own on the machine's PostgreSQL, dropped afterwards."""
    import asyncpg

    name = f"addon_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    async def drop() -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await connection.close()

    _run(create())
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _run(drop())


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    with postgres_database(postgres_server) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/addon.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like `database_url`, shared by the tests of one module (for a server started once)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/addon.db"
        return
    admin = request.getfixturevalue("postgres_server")
    with postgres_database(admin) as url:
        yield url


@pytest.fixture(scope="module")
def jira(
    request: pytest.FixtureRequest,
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[object]:
    """A real add-on server process (on SQLite, then PostgreSQL), its key server, and Jira's side.

    A test module may define `server_env(directory) -> dict` to add to the server's environment.
    """
    from tests.auth.keyserver import KeyServer
    from tests.support.connect import ADDON_KEY, Jira
    from tests.support.live import LiveServer

    log_dir = tmp_path_factory.mktemp("server")
    with KeyServer() as keys:
        env = {
            "DATABASE_URL": module_database_url,
            "ADDON_KEY": ADDON_KEY,
            "CONNECT_INSTALL_KEYS_URL": keys.url,
            "REJECTED_LOG_LIMIT": "1000",
        }
        extra = getattr(request.module, "server_env", None)
        if extra is not None:
            env.update(extra(log_dir))
        with LiveServer(env, log_dir=log_dir) as server:
            yield Jira(server=server, keys=keys, database_url=module_database_url)
