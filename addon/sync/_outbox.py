"""The outbox runner: claims due changes under a lease, pushes them, records the outcome.

Several instances may run it at once: the lease makes one of them run an entry, and an entry
whose instance died is taken up again when its lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable

from addon.sync._errors import JiraUnavailable, SyncError
from addon.sync._push import Pusher
from addon.sync._records import OutboxEntry, OutboxState
from addon.sync._store import SyncStore

__all__ = ["LEASE_SECONDS", "MAX_ATTEMPTS", "OutboxRunner", "backoff"]

LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 12
MAX_BACKOFF = 3600.0


def backoff(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: 2, 4, 8, ... up to an hour."""
    return float(min(2 ** max(attempts, 1), MAX_BACKOFF))


class OutboxRunner:
    def __init__(
        self,
        store: SyncStore,
        pusher: Pusher,
        *,
        owner: str,
        clock: Callable[[], float],
        lease: float = LEASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._store = store
        self._pusher = pusher
        self._owner = owner
        self._clock = clock
        self._lease = lease
        self._max_attempts = max_attempts

    async def run_once(
        self, entry_id: int | None = None, *, early: bool = False
    ) -> OutboxEntry | None:
        """Run one due entry (entry `entry_id`, if given; even before it is due, if `early`), if
        any; returns it as it is after."""
        entry = await self._store.claim(
            self._owner, now=self._clock(), lease=self._lease, entry_id=entry_id, early=early
        )
        if entry is None:
            return None
        state, error, later = await self._attempt(entry)
        await self._store.finish(
            entry, self._owner, state, now=self._clock(), next_attempt_at=later, error=error
        )
        return await self._store.entry(entry.id)

    async def run_due(self) -> int:
        """Run every entry due now; returns how many ran."""
        count = 0
        while await self.run_once() is not None:
            count += 1
        return count

    async def _attempt(self, entry: OutboxEntry) -> tuple[OutboxState, str | None, float | None]:
        adapter = await self._store.adapter(entry.adapter)
        if adapter is None:
            return OutboxState.FAILED, f"adapter {entry.adapter!r} was removed", None
        try:
            await self._pusher.push(adapter, entry.item_id, entry.change)
        except JiraUnavailable as exc:
            if entry.attempts >= self._max_attempts:
                return OutboxState.FAILED, f"gave up after {entry.attempts} attempts: {exc}", None
            wait = max(exc.retry_after or 0.0, backoff(entry.attempts))
            return OutboxState.PENDING, str(exc), self._clock() + wait
        except SyncError as exc:
            return OutboxState.FAILED, str(exc), None
        return OutboxState.DONE, None, None
