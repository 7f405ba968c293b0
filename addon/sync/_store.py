"""The sync's rows: adapters and links (`_store_links`), the durable outbox (`_store_outbox`),
the transitions the sync made and the changes already reported (`_store_changes`)."""

from __future__ import annotations

from addon.store import Db
from addon.sync._store_changes import ECHO_SECONDS, ChangeRows
from addon.sync._store_links import LinkRows
from addon.sync._store_outbox import OutboxRows

__all__ = ["ECHO_SECONDS", "SyncStore"]


class SyncStore(LinkRows, OutboxRows, ChangeRows):
    """Reads and writes the sync's rows (SQLite or PostgreSQL)."""

    def __init__(self, db: Db) -> None:
        self._db = db
