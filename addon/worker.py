"""The worker: runs handlers on accepted deliveries from the durable log, with leases and retries."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import random
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from addon.delivery import Origin
from addon.doors import AnyDoor, JiraClientFactory
from addon.handlers import Event, Handlers
from addon.ingest import normalise
from addon.store import Delivery, Store

__all__ = ["Admission", "Gate", "Worker", "backoff", "failure_text", "origin_of"]

if TYPE_CHECKING:
    from addon.sync import Sync

logger = logging.getLogger("addon.worker")

FAILURE_TEXT_LIMIT = 3_500
SUMMARY_LIMIT = 500


def backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential, jittered."""
    delay: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay * random.uniform(0.5, 1.0)


def failure_text(exc: BaseException, *, limit: int = FAILURE_TEXT_LIMIT) -> str:
    """What is kept of a handler's failure: the exception line, a blank line, then the end of the
    traceback cut where a frame starts to fit `limit` characters, always ending with the exception.
    """
    exception = "".join(traceback.format_exception_only(exc)).strip()
    summary = _cut(exception, SUMMARY_LIMIT)
    lines = "".join(traceback.format_exception(exc)).rstrip("\n").split("\n")
    frames = lines[: -len(exception.split("\n"))]
    room = limit - 2 * len(summary) - 80  # the two summaries, and the line saying what was cut
    kept: list[str] = []
    for line in reversed(frames):
        if len(line) + 1 > room:
            break
        kept.append(line)
        room -= len(line) + 1
    kept.reverse()
    if len(kept) < len(frames):
        while kept and kept[0].startswith("    "):  # a frame's source line, without its frame
            kept.pop(0)
        kept.insert(0, f"… {len(frames) - len(kept)} earlier line(s) of the traceback left out")
    return "\n".join([summary, "", *kept, summary])


def _cut(text: str, limit: int) -> str:
    """`text` up to `limit` characters, cut after a whole word and marked, if it is longer."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(None, 1)[0].rstrip() + "…"


def origin_of(delivery: Delivery) -> Origin:
    """Who sent `delivery`, as it was ingested: its door's kind and the sender's key."""
    return Origin(kind=delivery.origin_kind, key=delivery.origin or "")


@dataclasses.dataclass(frozen=True, slots=True)
class Admission:
    """A gate's answer for a delivery the worker picked up."""

    event: Event | None
    """The event for the handlers; None when the gate kept the delivery back (and recorded it)."""
    after: Callable[[], Awaitable[object]] | None = None
    """Run once the delivery is settled: handled, or given up."""


Gate = Callable[[Delivery, Event], Awaitable[Admission]]
"""Decides, when a delivery is picked up, whether and with what event its handlers run."""


class Worker:
    """Claims due deliveries, runs their handlers, and records each outcome.

    At least once per accepted delivery; never two runs of one delivery at a time (a lease,
    renewed while a handler runs, expires if this process dies, and another worker takes over).
    """

    def __init__(
        self,
        store: Store,
        handlers: Handlers,
        *,
        max_attempts: int = 8,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        concurrency: int = 8,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        owner: str | None = None,
        doors: Mapping[str, AnyDoor] | None = None,
        gate: Gate | None = None,
        sync: Sync | None = None,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.doors = dict(doors or {})
        self.gate = gate
        self.sync = sync
        """Fed every delivery before its handlers run (status coming back), and `event.sync`."""
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for work now (called when the writer commits new deliveries)."""
        self._wake.set()

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="addon-worker")
        self._renew_task = asyncio.create_task(self._renew(), name="addon-worker-leases")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop claiming; let running handlers finish for `grace` seconds, then give their leases back.

        The claiming loop and the lease renewal are asked to stop between two store calls, not
        cancelled in one: a transaction cut short would leave its connection to be reset.
        """
        self._stopping.set()
        self._wake.set()
        loops = [task for task in (self._loop_task, self._renew_task) if task is not None]
        if loops:
            await asyncio.wait(loops, timeout=grace)
        for task in loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=grace)
        for task in list(self._running.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._settle("give the leases back", self.store.queue.release(self.owner))

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once(wait=False)
            except Exception as exc:  # the database away, or anything else: try again later
                logger.warning("worker: %s", exc)
                claimed = 0
            if claimed == 0 and not self._stopping.is_set():
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def run_once(self, *, wait: bool = True) -> int:
        """Claim what is due and start it; with `wait`, also wait for it to finish."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            await asyncio.wait(list(self._running.values()), return_when=asyncio.FIRST_COMPLETED)
            free = self.concurrency - len(self._running)  # claim now, not a poll interval later
            if free <= 0:
                return 0
        claimed = await self.store.queue.claim(
            self.owner, lease_seconds=self.lease_seconds, limit=free
        )
        tasks = []
        for delivery in claimed:
            task = asyncio.create_task(self._run(delivery), name=f"addon-handler-{delivery.id}")
            self._running[delivery.id] = task
            task.add_done_callback(functools.partial(self._forget, delivery.id))
            tasks.append(task)
        if wait and tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(claimed)

    def _forget(self, delivery_id: int, task: asyncio.Task[None]) -> None:
        self._running.pop(delivery_id, None)

    async def _renew(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.lease_seconds / 3)
                return
            await self._settle(
                "renew leases",
                self.store.queue.renew(
                    self.owner, list(self._running), lease_seconds=self.lease_seconds
                ),
            )

    async def _client_factory(self, origin: Origin) -> JiraClientFactory | None:
        """The Jira client of the origin's door (none for a door this worker was not given)."""
        door = self.doors.get(origin.kind)
        return None if door is None else await door.jira_client(origin)

    def event_for(
        self, delivery: Delivery, client_factory: JiraClientFactory | None = None
    ) -> Event:
        payload = delivery.payload()
        origin = origin_of(delivery)
        if client_factory is not None:
            origin = dataclasses.replace(origin, site_url=client_factory.site_url)
        return Event(
            delivery_id=delivery.id,
            name=delivery.event or "",
            payload=payload,
            context=delivery.context,
            webhook_id=delivery.webhook_id,
            origin=origin,
            view=normalise(delivery.event, payload, delivery.context),
            received_at=datetime.fromtimestamp(delivery.received_at, UTC),
            attempt=delivery.attempts,
            client_factory=client_factory,
            sync=self.sync,
        )

    async def _run(self, delivery: Delivery) -> None:
        after = None
        try:
            client_factory = await self._client_factory(origin_of(delivery))
            event = self.event_for(delivery, client_factory)
            if self.sync is not None:
                await self.sync.observe(
                    delivery, site_url=event.origin.site_url, client=client_factory
                )
            if self.gate is not None:
                admission = await self.gate(delivery, event)
                if admission.event is None:
                    return
                event, after = admission.event, admission.after
            for handler in self.handlers.for_event(event.name):
                await handler(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a handler's failure is recorded, never raised
            error = "".join(traceback.format_exception_only(exc)).strip()
            give_up = delivery.attempts >= self.max_attempts
            retry_at = (
                None
                if give_up
                else time.time()
                + backoff(delivery.attempts, base=self.backoff_base, cap=self.backoff_cap)
            )
            logger.warning(
                "handler failed for delivery %s (attempt %s/%s): %s",
                delivery.id, delivery.attempts, self.max_attempts, error,
            )  # fmt: skip
            await self._settle(
                f"record the failure of delivery {delivery.id}",
                self.store.queue.fail(
                    self.owner, delivery.id, failure_text(exc), retry_at=retry_at
                ),
            )
            if give_up and after is not None:
                await self._settle(f"finish delivery {delivery.id}", after())
            return
        await self._settle(
            f"record delivery {delivery.id} as done",
            self.store.queue.complete(self.owner, delivery.id),
        )
        if after is not None:
            await self._settle(f"finish delivery {delivery.id}", after())

    @staticmethod
    async def _settle(what: str, call: Awaitable[object]) -> None:
        """Await a store call; any failure is logged, never raised (the lease expires, and the
        delivery is tried again), so a task never dies with its exception unread."""
        try:
            await call
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("worker: could not %s: %s", what, exc)
