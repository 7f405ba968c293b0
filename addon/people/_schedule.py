"""People's clocks in the database, so that a restart or another instance (the jobs' leases move)
neither reports again at once nor forgets since when a site has been out of reach."""

from __future__ import annotations

from addon.store import Db

__all__ = ["PeopleSchedule"]

REPORT = "report"


class PeopleSchedule:
    """When the personal data report is next due; since when each site has been out of reach."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def report_due_at(self) -> float:
        """When the next report is due (0: at once, none was made yet)."""
        row = await self._db.fetch_one(
            "SELECT due_at FROM people_schedule WHERE name = ?", (REPORT,)
        )
        return 0.0 if row is None else float(row["due_at"])

    async def report_due(self, at: float) -> None:
        await self._db.execute(
            """INSERT INTO people_schedule (name, due_at) VALUES (?, ?)
               ON CONFLICT (name) DO UPDATE SET due_at = excluded.due_at""",
            (REPORT, at),
        )

    async def unreachable_since(self, site: str, now: float) -> float:
        """Since when `site` has been out of reach: `now`, unless an earlier time is recorded."""
        await self._db.execute(
            "INSERT INTO people_unreachable (site, since) VALUES (?, ?) ON CONFLICT (site) DO NOTHING",
            (site, now),
        )
        row = await self._db.fetch_one(
            "SELECT since FROM people_unreachable WHERE site = ?", (site,)
        )
        return now if row is None else float(row["since"])

    async def reachable(self, site: str) -> None:
        """`site` is in reach again (or has nothing stored to erase): forget since when it was not."""
        await self._db.execute("DELETE FROM people_unreachable WHERE site = ?", (site,))
