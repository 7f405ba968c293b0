"""What the sync needs to report each change in Jira once and never its own: the transitions
it made (echo suppression) and the changes already reported (exactly once across doors)."""

from __future__ import annotations

from addon.store import Db

__all__ = ["ECHO_SECONDS", "ChangeRows"]

ECHO_SECONDS = 120.0
"""A transition the sync made is taken as the origin of a matching change for this long."""


class ChangeRows:
    """The sync's transitions and processed changes (a part of `SyncStore`)."""

    _db: Db

    # Echo suppression and exactly-once

    async def begin_transition(
        self, site: str, issue_id: str, from_status: str, to_status: str, *, now: float
    ) -> int:
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO sync_transitions (site, issue_id, from_status, to_status, state, at)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                (site, issue_id, from_status, to_status, now),
            )
            row = await conn.fetch_one(
                "SELECT MAX(id) AS id FROM sync_transitions WHERE site = ? AND issue_id = ?",
                (site, issue_id),
            )
        assert row is not None
        return int(row["id"])

    async def end_transition(self, transition_id: int, *, done: bool, now: float) -> None:
        """Done: Jira made it (an echo may follow); not done: it failed, so none will."""
        if done:
            await self._db.execute(
                "UPDATE sync_transitions SET state = 'done', at = ? WHERE id = ?",
                (now, transition_id),
            )
        else:
            await self._db.execute("DELETE FROM sync_transitions WHERE id = ?", (transition_id,))

    async def take_echo(
        self, site: str, issue_id: str, from_status: str | None, to_status: str, *, now: float
    ) -> bool:
        """True, once, if the sync made this transition (pending, or done within ECHO_SECONDS):
        the change is its own echo. Without `from_status` (catch-up) the target alone counts."""
        from_clause = " AND from_status = ?" if from_status is not None else ""
        params = (site, issue_id, to_status, *([from_status] if from_status else []))
        rows = await self._db.fetch_all(
            "SELECT id FROM sync_transitions WHERE site = ? AND issue_id = ? AND to_status = ?"
            + from_clause
            + " AND (state = 'pending' OR at >= ?) ORDER BY id",
            (*params, now - ECHO_SECONDS),
        )
        for row in rows:
            if await self._db.execute("DELETE FROM sync_transitions WHERE id = ?", (row["id"],)):
                return True
        return False

    async def forget_change(self, site: str, change_key: str) -> None:
        """Undo `first_time`: the change's events could not be recorded, so its retry may."""
        await self._db.execute(
            "DELETE FROM sync_processed WHERE site = ? AND change_key = ?", (site, change_key)
        )

    async def first_time(self, site: str, change_key: str, *, now: float) -> bool:
        """Record a change as processed; False if it already was (a retry, or another door)."""
        inserted = await self._db.execute(
            "INSERT INTO sync_processed (site, change_key, processed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (site, change_key) DO NOTHING",
            (site, change_key, now),
        )
        return inserted == 1

    async def prune(self, *, before: float) -> None:
        """Forget processed-change records and finished transitions older than `before`."""
        await self._db.execute("DELETE FROM sync_processed WHERE processed_at < ?", (before,))
        await self._db.execute(
            "DELETE FROM sync_transitions WHERE state = 'done' AND at < ?", (before,)
        )
