"""Leases on background jobs: at most one instance runs a job at a time, on any database."""

from __future__ import annotations

import time

from addon.store._db import Db

__all__ = ["JobLeases"]


class JobLeases:
    """Who runs which job: a lease by job name, taken when free or expired, renewed by its owner."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def take(
        self, name: str, owner: str, *, seconds: float, now: float | None = None
    ) -> bool:
        """Take (or renew) the lease on `name` for `seconds`; False while another owner holds it."""
        now = time.time() if now is None else now
        await self._db.execute(
            """INSERT INTO job_leases (name, owner, expires_at) VALUES (?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                   expires_at = excluded.expires_at
               WHERE job_leases.owner = excluded.owner OR job_leases.expires_at <= ?""",
            (name, owner, now + seconds, now),
        )
        row = await self._db.fetch_one("SELECT owner FROM job_leases WHERE name = ?", (name,))
        return row is not None and row["owner"] == owner

    async def release(self, name: str, owner: str) -> None:
        """Give the lease back (if `owner` holds it), so another instance need not wait."""
        await self._db.execute(
            "UPDATE job_leases SET expires_at = 0 WHERE name = ? AND owner = ?", (name, owner)
        )
