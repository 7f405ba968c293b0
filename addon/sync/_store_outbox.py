"""The sync's durable outbox: changes queued per item, run in order under a lease (so one
instance runs an entry, and an entry whose instance died is taken up again)."""

from __future__ import annotations

import json

from addon.store import Db
from addon.store._db import Row
from addon.sync._errors import UnknownAdapter
from addon.sync._records import MAX_ERROR, Change, OutboxEntry, OutboxState, check_item_id

__all__ = ["EARLY", "OutboxRows"]

EARLY = 10 * 365 * 86400.0
"""How far ahead `claim(early=True)` looks: any pending entry is due for it."""

_OUTBOX = (
    "id, adapter, item_id, change, state, attempts, next_attempt_at, last_error, lease_owner,"
    " lease_until, created_at"
)


def _entry(row: Row) -> OutboxEntry:
    return OutboxEntry(
        id=int(row["id"]),
        adapter=row["adapter"],
        item_id=row["item_id"],
        change=Change.from_dict(json.loads(row["change"])),
        state=OutboxState(row["state"]),
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        last_error=row["last_error"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        created_at=float(row["created_at"]),
    )


class OutboxRows:
    """The outbox's entries (a part of `SyncStore`)."""

    _db: Db

    # The outbox

    async def enqueue(
        self,
        adapter: str,
        item_id: str,
        change: Change,
        *,
        now: float,
        not_before: float | None = None,
    ) -> int:
        """Queue a change, due at `not_before` (default now): a caller that runs it at once
        queues it for later, so that the outbox job does not take it first."""
        check_item_id(item_id)
        async with self._db.connection() as conn, conn.transaction():
            if not await conn.fetch_one(
                "SELECT name FROM sync_adapters WHERE name = ?", (adapter,)
            ):
                raise UnknownAdapter(f"no adapter named {adapter!r} (addon sync list shows them)")
            await conn.execute(
                "INSERT INTO sync_outbox (adapter, item_id, change, state, next_attempt_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    adapter,
                    item_id,
                    json.dumps(change.as_dict()),
                    OutboxState.PENDING.value,
                    now if not_before is None else not_before,
                    now,
                    now,
                ),
            )
            row = await conn.fetch_one(
                "SELECT MAX(id) AS id FROM sync_outbox WHERE adapter = ? AND item_id = ?",
                (adapter, item_id),
            )
        assert row is not None
        return int(row["id"])

    async def claim(
        self,
        owner: str,
        *,
        now: float,
        lease: float,
        entry_id: int | None = None,
        early: bool = False,
    ) -> OutboxEntry | None:
        """Lease the oldest due entry (or entry `entry_id`, if due, or pending at all when
        `early`) whose item has no earlier unfinished one (an item's changes run in order); a
        running entry whose lease ran out (its instance crashed) is due again."""
        unfinished = (OutboxState.PENDING.value, OutboxState.RUNNING.value)
        only, only_params = (" AND o.id = ?", (entry_id,)) if entry_id is not None else ("", ())
        due = now + EARLY if early and entry_id is not None else now
        rows = await self._db.fetch_all(
            f"SELECT {_OUTBOX} FROM sync_outbox o WHERE"
            " ((state = ? AND next_attempt_at <= ?) OR (state = ? AND lease_until < ?))"
            " AND NOT EXISTS (SELECT 1 FROM sync_outbox e WHERE e.adapter = o.adapter"
            f" AND e.item_id = o.item_id AND e.id < o.id AND e.state IN (?, ?)){only}"
            " ORDER BY id LIMIT 10",
            (
                OutboxState.PENDING.value,
                due,
                OutboxState.RUNNING.value,
                now,
                *unfinished,
                *only_params,
            ),
        )
        for row in rows:
            changed = await self._db.execute(
                "UPDATE sync_outbox SET state = ?, lease_owner = ?, lease_until = ?,"
                " attempts = attempts + 1, updated_at = ? WHERE id = ? AND"
                " ((state = ? AND next_attempt_at <= ?) OR (state = ? AND lease_until < ?))",
                (
                    OutboxState.RUNNING.value,
                    owner,
                    now + lease,
                    now,
                    row["id"],
                    OutboxState.PENDING.value,
                    due,
                    OutboxState.RUNNING.value,
                    now,
                ),
            )
            if changed == 1:
                return await self.entry(int(row["id"]))
        return None

    async def reschedule(self, entry_id: int, *, at: float) -> None:
        """Make a pending entry due at `at` (one that could not run at once: due now)."""
        await self._db.execute(
            "UPDATE sync_outbox SET next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = ?",
            (at, at, entry_id, OutboxState.PENDING.value),
        )

    async def entry(self, entry_id: int) -> OutboxEntry | None:
        row = await self._db.fetch_one(
            f"SELECT {_OUTBOX} FROM sync_outbox WHERE id = ?", (entry_id,)
        )
        return _entry(row) if row is not None else None

    async def pushed_recently(
        self, adapter: str, item_id: str, *, now: float, within: float
    ) -> list[Change]:
        """The item's changes that are queued, running, or finished within `within` seconds:
        what the sync is pushing or just pushed (a field edit with these values is its own echo;
        a failed change may have edited fields before it failed, a walk through the workflow)."""
        rows = await self._db.fetch_all(
            "SELECT change FROM sync_outbox WHERE adapter = ? AND item_id = ?"
            " AND (state IN (?, ?) OR (state IN (?, ?) AND updated_at >= ?)) ORDER BY id",
            (
                adapter,
                item_id,
                OutboxState.PENDING.value,
                OutboxState.RUNNING.value,
                OutboxState.DONE.value,
                OutboxState.FAILED.value,
                now - within,
            ),
        )
        return [Change.from_dict(json.loads(row["change"])) for row in rows]

    async def entries(self, *, limit: int = 100) -> list[OutboxEntry]:
        rows = await self._db.fetch_all(
            f"SELECT {_OUTBOX} FROM sync_outbox ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_entry(row) for row in rows]

    async def finish(
        self,
        entry: OutboxEntry,
        owner: str,
        state: OutboxState,
        *,
        now: float,
        next_attempt_at: float | None = None,
        error: str | None = None,
    ) -> bool:
        """Record an attempt's outcome, only while `owner` holds the lease; False if it lost it."""
        changed = await self._db.execute(
            "UPDATE sync_outbox SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at),"
            " last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?"
            " WHERE id = ? AND lease_owner = ? AND state = ?",
            (
                state.value,
                next_attempt_at,
                error[:MAX_ERROR] if error is not None else None,
                now,
                entry.id,
                owner,
                OutboxState.RUNNING.value,
            ),
        )
        return changed == 1
