"""The SQLite file and the files SQLite keeps beside it are private to their owner."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from addon.store import open_store
from addon.store._files import create_private_sqlite_file


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems run with (022), under which SQLite's own files are world-readable."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_and_shm_files_are_created_0600(
    tmp_path: Path, usual_umask: None
) -> None:
    database = tmp_path / "addon.db"

    async def open_and_look() -> dict[str, int]:
        store = await open_store(f"sqlite:///{database}", encrypt_existing=False)
        try:
            async with store.db.connection() as conn:  # held open: the -wal and -shm files stay
                await conn.execute("CREATE TABLE probe (x INTEGER)")
                await conn.execute("INSERT INTO probe VALUES (1)")
                return {path.name: mode(path) for path in tmp_path.iterdir()}
        finally:
            await store.db.disconnect()

    modes = asyncio.run(open_and_look())
    assert set(modes) == {"addon.db", "addon.db-wal", "addon.db-shm"}
    assert modes == dict.fromkeys(modes, 0o600)


def test_an_existing_file_keeps_its_mode_and_a_readable_one_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "old.db"
    database.touch()
    database.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="addon.store"):
        assert create_private_sqlite_file(f"sqlite:///{database}") == database
    assert mode(database) == 0o644
    assert f"DATABASE_URL: {database} may be read by other users (mode 644)" in caplog.text
    database.chmod(0o600)
    caplog.clear()
    create_private_sqlite_file(f"sqlite:///{database}")
    assert caplog.text == ""


def test_no_file_of_its_own_and_a_missing_directory(tmp_path: Path) -> None:
    assert create_private_sqlite_file("sqlite:///:memory:") is None
    missing = tmp_path / "no" / "such" / "dir.db"
    assert create_private_sqlite_file(f"sqlite:///{missing}") == missing
    assert not missing.exists()
