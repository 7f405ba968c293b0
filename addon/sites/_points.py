"""Where each site's next catch-up starts, in the database, so that whichever instance runs the
OAuth jobs next (under the job lease) or starts fresh uses it.

Per site: when its webhooks were last seen alive (a catch-up after they had to be registered
again starts there), and a pending second pass (search is eventually consistent: the same gap is
searched again a minute later) with the time it is due.
"""

from __future__ import annotations

from dataclasses import dataclass

from addon.store import Db

__all__ = ["CatchUpPoints", "SecondPass"]


@dataclass(frozen=True, slots=True)
class SecondPass:
    """A gap of `cloud_id` from `since`, to be searched again at `due`."""

    cloud_id: str
    since: float
    due: float


class CatchUpPoints:
    """Reads and writes the catch-up columns of `oauth_sites` (migration 18)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def seen_alive(self, cloud_id: str, *, now: float) -> None:
        await self._db.execute(
            "UPDATE oauth_sites SET webhooks_alive_at = ? WHERE cloud_id = ?", (now, cloud_id)
        )

    async def alive_at(self, cloud_id: str) -> float | None:
        """The last time the site's webhooks were seen alive; None if never recorded."""
        row = await self._db.fetch_one(
            "SELECT webhooks_alive_at FROM oauth_sites WHERE cloud_id = ?", (cloud_id,)
        )
        value = row["webhooks_alive_at"] if row is not None else None
        return float(value) if value is not None else None

    async def plan_second_pass(self, cloud_id: str, *, since: float, due: float) -> None:
        """Search from `since` again at `due`; a pass already pending keeps the earlier start."""
        await self._db.execute(
            "UPDATE oauth_sites SET catch_up_due_at = ?, catch_up_since = CASE WHEN"
            " catch_up_since IS NULL OR catch_up_since > ? THEN ? ELSE catch_up_since END"
            " WHERE cloud_id = ?",
            (due, since, since, cloud_id),
        )

    async def due(self, *, now: float) -> list[SecondPass]:
        rows = await self._db.fetch_all(
            "SELECT cloud_id, catch_up_since, catch_up_due_at FROM oauth_sites"
            " WHERE catch_up_due_at IS NOT NULL AND catch_up_due_at <= ? ORDER BY cloud_id",
            (now,),
        )
        return [
            SecondPass(row["cloud_id"], float(row["catch_up_since"]), float(row["catch_up_due_at"]))
            for row in rows
        ]

    async def take(self, planned: SecondPass) -> bool:
        """Clear a due pass; True for the one caller that cleared it (and so runs it)."""
        changed = await self._db.execute(
            "UPDATE oauth_sites SET catch_up_since = NULL, catch_up_due_at = NULL"
            " WHERE cloud_id = ? AND catch_up_due_at = ? AND catch_up_since = ?",
            (planned.cloud_id, planned.due, planned.since),
        )
        return changed == 1

    async def clear(self, cloud_id: str) -> None:
        await self._db.execute(
            "UPDATE oauth_sites SET catch_up_since = NULL, catch_up_due_at = NULL"
            " WHERE cloud_id = ?",
            (cloud_id,),
        )
