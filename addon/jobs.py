"""Running the doors' background jobs: each every so often, at one instance at a time.

A job runs only while this instance holds its lease in the database (`JobLeases`), taken for
two of the job's periods and renewed at each run: if the instance holding it stops, another takes
over within two periods, as handler work does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence

from addon.doors import Job
from addon.store import Store, StoreUnavailable

__all__ = ["JobRunner"]

logger = logging.getLogger("addon.jobs")


class JobRunner:
    """Runs `jobs` from `start` to `stop`; a job's failure is logged and tried again next period."""

    def __init__(self, store: Store, jobs: Sequence[Job], *, owner: str | None = None) -> None:
        self.store = store
        self.jobs = tuple(jobs)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(job), name=f"addon-job-{job.name}") for job in self.jobs
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for job in self.jobs:
            with contextlib.suppress(StoreUnavailable):
                await self.store.job_leases.release(job.name, self.owner)

    async def run_once(self, job: Job) -> bool:
        """Run `job` if this instance holds (or can take) its lease; whether it ran."""
        leases = self.store.job_leases
        if not await leases.take(job.name, self.owner, seconds=2 * job.every):
            return False
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job %s failed; it runs again in %s s", job.name, job.every)
        return True

    async def _loop(self, job: Job) -> None:
        while True:
            try:
                await self.run_once(job)
            except StoreUnavailable as exc:
                logger.warning("job %s: %s", job.name, exc)
            await asyncio.sleep(job.every)
