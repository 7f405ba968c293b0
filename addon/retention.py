"""Retention: deliveries older than DELIVERY_RETENTION_DAYS are pruned in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from addon.store import Store, StoreUnavailable

__all__ = ["Retention"]

logger = logging.getLogger("addon.retention")

DAY = 86_400.0


class Retention:
    """Prunes once shortly after start-up, then every `interval` seconds."""

    def __init__(self, store: Store, *, days: int, interval: float = 3_600.0) -> None:
        self.store = store
        self.days = days
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def prune_once(self, *, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - self.days * DAY
        removed = await self.store.deliveries.prune(older_than=cutoff)
        if removed:
            logger.info("retention: pruned %s deliveries older than %s days", removed, self.days)
        return removed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="addon-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        await asyncio.sleep(min(60.0, self.interval))
        while True:
            try:
                await self.prune_once()
            except StoreUnavailable as exc:
                logger.warning("retention: %s", exc)
            await asyncio.sleep(self.interval)
