"""`addon people forget` touches every table that stores an account's name or email, and the
README lists each of them: checked against the migrated schema, not a list kept by hand."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

from addon.people import FORGOTTEN_TABLES
from addon.store import open_store

README = Path(__file__).resolve().parents[2] / "README.md"
OWN = {"people"}  # the user's own directory: theirs, never erased by a Jira account's forget


def _columns(path: Path) -> dict[str, list[str]]:
    asyncio.run(_migrate(path))
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [row[1] for row in db.execute(f"PRAGMA table_info({t})")] for t in tables}


async def _migrate(path: Path) -> None:
    store = await open_store(f"sqlite:///{path}")
    await store.close()


def test_every_table_with_an_account_s_name_email_or_payload_is_forgotten_and_listed(
    tmp_path: Path,
) -> None:
    columns = _columns(tmp_path / "schema.db")
    personal = {
        table
        for table, names in columns.items()
        if "account_id" in names
        or "body" in names  # stored payloads
        or {"display_name", "email"} <= set(names)
    }
    assert personal - OWN == set(FORGOTTEN_TABLES)
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Personal data.**") :]
    section = section[: section.index("\n\n")]
    named = set(re.findall(r"`([a-z_]+)`", section))
    assert set(FORGOTTEN_TABLES) <= named, set(FORGOTTEN_TABLES) - named
