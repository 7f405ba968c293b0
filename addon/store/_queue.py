"""The handler work queue on the delivery log: leases that expire when an instance dies."""

from __future__ import annotations

import time
from collections.abc import Sequence

from addon.store._db import Db
from addon.store._records import Delivery, DeliveryStatus, HandlerState
from addon.store._storable import storable_text

__all__ = ["NotReplayable", "WorkQueue", "replay_refusal"]

FINISHED = (HandlerState.DONE, HandlerState.FAILED)

_REPLAY = """UPDATE deliveries SET handler_state = 'pending', attempts = 0, next_attempt_at = ?,
        last_error = NULL, completed_at = NULL, lease_owner = NULL, lease_until = NULL,
        replays = replays + 1, replayed_at = ?
    WHERE id = ? AND status = ? AND handler_state IN (?, ?)
    RETURNING *"""


class NotReplayable(Exception):
    """A delivery whose handlers cannot be run again (now); the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def replay_refusal(delivery: Delivery) -> str | None:
    """Why `delivery`'s handlers cannot be run again, or None: only an accepted delivery's
    finished (done or failed) handler work is repeated."""
    name = f"delivery {delivery.id}"
    if delivery.status is DeliveryStatus.DUPLICATE:
        original = delivery.duplicate_of
        return f"{name} is a copy of delivery {original}, whose handlers ran: replay {original}"
    if delivery.status is DeliveryStatus.REJECTED:
        return f"{name} was rejected: a refused request never reaches the handlers"
    if delivery.status is not DeliveryStatus.ACCEPTED:
        return f"{name} was {delivery.status.value}, not accepted: its handlers never ran"
    if delivery.handler_state is HandlerState.PENDING:
        return (
            f"{name}'s handlers have not finished (attempt {delivery.attempts}); "
            "replay it once they are done or failed"
        )
    if delivery.handler_state is HandlerState.HELD:
        return (
            f"{name} is held until account {delivery.held_account} of {delivery.held_site} is "
            "mapped to one of your people (the People page); its handlers run then"
        )
    if delivery.handler_state not in FINISHED:
        return f"{name} has no handler run to repeat: no handlers were set when it arrived"
    return None


class WorkQueue:
    """Claim, renew and settle handler work; one lease holder per delivery at any time."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def claim(self, owner: str, *, lease_seconds: float, limit: int) -> list[Delivery]:
        """Lease up to `limit` due deliveries to `owner`; each claim counts as one attempt."""
        now = time.time()
        lock = "FOR UPDATE SKIP LOCKED" if self._db.postgres else ""
        sql = f"""UPDATE deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
                  WHERE id IN (
                      SELECT id FROM deliveries
                      WHERE handler_state = 'pending' AND next_attempt_at <= ?
                        AND (lease_until IS NULL OR lease_until < ?)
                      ORDER BY next_attempt_at, id LIMIT ? {lock})
                  RETURNING *"""
        async with self._db.connection() as conn, conn.transaction():
            rows = await conn.fetch_all(sql, (owner, now + lease_seconds, now, now, limit))
        return sorted((Delivery.from_row(row) for row in rows), key=lambda d: d.id)

    async def renew(self, owner: str, ids: Sequence[int], *, lease_seconds: float) -> None:
        if not ids:
            return
        marks = ", ".join("?" for _ in ids)
        await self._db.execute(
            f"UPDATE deliveries SET lease_until = ? WHERE lease_owner = ? AND id IN ({marks})",
            (time.time() + lease_seconds, owner, *ids),
        )

    async def complete(self, owner: str, delivery_id: int) -> bool:
        count = await self._db.execute(
            """UPDATE deliveries SET handler_state = ?, completed_at = ?, lease_owner = NULL,
                   lease_until = NULL, last_error = NULL
               WHERE id = ? AND lease_owner = ? AND handler_state = 'pending'""",
            (HandlerState.DONE.value, time.time(), delivery_id, owner),
        )
        return count > 0

    async def fail(
        self, owner: str, delivery_id: int, error: str, *, retry_at: float | None
    ) -> bool:
        """Record a failed attempt: retried at `retry_at`, or given up when it is None."""
        state = HandlerState.PENDING if retry_at is not None else HandlerState.FAILED
        count = await self._db.execute(
            """UPDATE deliveries SET handler_state = ?, next_attempt_at = ?, last_error = ?,
                   lease_owner = NULL, lease_until = NULL,
                   completed_at = CASE WHEN ? = 'failed' THEN ? ELSE completed_at END
               WHERE id = ? AND lease_owner = ? AND handler_state = 'pending'""",
            (
                state.value,
                retry_at,
                storable_text(error[:4000]),
                state.value,
                time.time(),
                delivery_id,
                owner,
            ),
        )
        return count > 0

    async def replay(self, delivery_id: int) -> Delivery | None:
        """Queue a finished delivery's handlers to run again, from attempt 1, through the same
        leases as any handler work; None if there is no such delivery, `NotReplayable` if its
        handlers cannot run again. The check and the change are one statement, so two replays at
        the same moment queue one run."""
        now = time.time()
        finished = tuple(state.value for state in FINISHED)
        async with self._db.connection() as conn, conn.transaction():
            rows = await conn.fetch_all(
                _REPLAY, (now, now, delivery_id, DeliveryStatus.ACCEPTED.value, *finished)
            )
        if rows:
            return Delivery.from_row(rows[0])
        row = await self._db.fetch_one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        if row is None:
            return None
        delivery = Delivery.from_row(row)
        raise NotReplayable(
            replay_refusal(delivery) or f"delivery {delivery_id} changed meanwhile; try again"
        )

    async def release(self, owner: str) -> None:
        """Give back every lease `owner` holds (a clean shutdown), so another can run them now."""
        await self._db.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, "
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END "
            "WHERE lease_owner = ? AND handler_state = 'pending'",
            (owner,),
        )

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetch_all(
            "SELECT handler_state, COUNT(*) AS n FROM deliveries GROUP BY handler_state"
        )
        return {row["handler_state"]: int(row["n"]) for row in rows}
