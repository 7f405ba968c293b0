"""Deliveries held until their actor's account is mapped: which account each waits for, in the
order they arrived."""

from __future__ import annotations

import time

from addon.people._records import indexed
from addon.store import Db, HandlerState

__all__ = ["HELD", "HeldDeliveries"]

HELD = HandlerState.HELD.value


class HeldDeliveries:
    """Hold a delivery for an account of a site; list and release the ones waiting for it."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def hold(self, delivery_id: int, site: str, account_id: str) -> bool:
        """Hold a pending delivery for an account; False if it is not pending (nothing changed)."""
        return (
            await self._db.execute(
                """UPDATE deliveries SET handler_state = ?, held_site = ?, held_account = ?,
                     lease_owner = NULL, lease_until = NULL,
                     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
                   WHERE id = ? AND handler_state = 'pending'""",
                (
                    HELD,
                    indexed("a site URL", site),
                    indexed("an account id", account_id),
                    delivery_id,
                ),
            )
            > 0
        )

    async def waiting_for(self, account_id: str, site: str | None = None) -> list[int]:
        """The deliveries held for an account (of one site, or any), in the order they arrived."""
        sql = "SELECT id FROM deliveries WHERE held_account = ? AND handler_state = ?"
        params: tuple[str, ...] = (account_id, HELD)
        if site is not None:
            sql += " AND held_site = ?"
            params = (*params, site)
        rows = await self._db.fetch_all(sql + " ORDER BY id", params)
        return [int(row["id"]) for row in rows]

    async def release(self, site: str, account_id: str, *, now: float | None = None) -> list[int]:
        """Give an account's held deliveries back to the worker, in arrival order.

        They become pending with one due time, and the worker takes pending work by due time then
        id, so they reach handlers in the order they arrived.
        """
        at = time.time() if now is None else now
        async with self._db.connection() as conn, conn.transaction():
            rows = await conn.fetch_all(
                """SELECT id FROM deliveries
                   WHERE held_account = ? AND held_site = ? AND handler_state = ? ORDER BY id""",
                (account_id, site, HELD),
            )
            await conn.execute(
                """UPDATE deliveries SET handler_state = 'pending', next_attempt_at = ?,
                     held_site = NULL, held_account = NULL
                   WHERE held_account = ? AND held_site = ? AND handler_state = ?""",
                (at, account_id, site, HELD),
            )
        return [int(row["id"]) for row in rows]

    async def release_next(
        self, site: str, account_id: str, *, now: float | None = None
    ) -> int | None:
        """Give the oldest delivery held for an account back to the worker, unless one released
        before is still being handled; returns the one released.

        A released delivery keeps the account it waited for until it is handled, so the next one
        waits for it: held deliveries reach handlers one at a time, in the order they arrived.
        """
        at = time.time() if now is None else now
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                """UPDATE deliveries SET held_site = NULL, held_account = NULL
                   WHERE held_account = ? AND held_site = ? AND handler_state NOT IN (?, ?)""",
                (account_id, site, HELD, HandlerState.PENDING.value),
            )
            busy = await conn.fetch_one(
                """SELECT id FROM deliveries WHERE held_account = ? AND held_site = ?
                     AND handler_state = ? LIMIT 1""",
                (account_id, site, HandlerState.PENDING.value),
            )
            if busy is not None:
                return None
            row = await conn.fetch_one(
                """SELECT id FROM deliveries WHERE held_account = ? AND held_site = ?
                     AND handler_state = ? ORDER BY id LIMIT 1""",
                (account_id, site, HELD),
            )
            if row is None:
                return None
            await conn.execute(
                "UPDATE deliveries SET handler_state = ?, next_attempt_at = ? WHERE id = ?",
                (HandlerState.PENDING.value, at, row["id"]),
            )
        return int(row["id"])

    async def clear_finished(self, site: str, account_id: str) -> None:
        """Forget the account of released deliveries that are handled (so retention applies)."""
        await self._db.execute(
            """UPDATE deliveries SET held_site = NULL, held_account = NULL
               WHERE held_account = ? AND held_site = ? AND handler_state NOT IN (?, ?)""",
            (account_id, site, HELD, HandlerState.PENDING.value),
        )

    async def waiting_accounts(self) -> list[tuple[str, str]]:
        """The `(site, account id)` pairs deliveries are held (or being released) for."""
        rows = await self._db.fetch_all(
            "SELECT DISTINCT held_site, held_account FROM deliveries WHERE held_account IS NOT NULL"
            " ORDER BY held_site, held_account"
        )
        return [(row["held_site"], row["held_account"]) for row in rows]

    async def skip(self, delivery_id: int, account_id: str) -> bool:
        """Keep a pending delivery stored without ever running handlers for it
        (`UNMAPPED_ACTORS=skip`)."""
        return (
            await self._db.execute(
                """UPDATE deliveries SET handler_state = ?, lease_owner = NULL, lease_until = NULL,
                     last_error = ?
                   WHERE id = ? AND handler_state = 'pending'""",
                (
                    HandlerState.NONE.value,
                    f"skipped: account {account_id} is no mapped person (UNMAPPED_ACTORS=skip)",
                    delivery_id,
                ),
            )
            > 0
        )

    async def abandon(self, account_id: str) -> int:
        """End the holds of an account Atlassian closed (it can never be mapped now): its
        deliveries stay stored, never given to handlers, and retention applies to them again."""
        return await self._db.execute(
            """UPDATE deliveries SET handler_state = ?, held_site = NULL, held_account = NULL,
                 last_error = ?
               WHERE held_account = ? AND handler_state = ?""",
            (
                HandlerState.NONE.value,
                "not handled: its actor's Jira account was closed while it was held",
                account_id,
                HELD,
            ),
        )

    async def count(self) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n FROM deliveries WHERE handler_state = ?", (HELD,)
        )
        return int(row["n"]) if row is not None else 0
