"""Live updates: a Server-Sent Events stream of new deliveries, read by polling the database.

Polling the delivery log (not an in-process signal) means a browser sees deliveries that any
instance on the same database stored. With several writers, ids are not committed in order (on
PostgreSQL one instance may commit id 102 before another commits 101), so the tail remembers the
ids it skipped for a few seconds and sends them when they appear.

A stream ends by itself when the client goes away, when the server is asked to stop, and after
`Timing.lifetime` seconds; the browser then reconnects and resumes from the Last-Event-ID it was
sent, so nothing is missed and shutdown never waits on a stream.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from addon.store import Delivery, DeliveryFilter, Store, StoreUnavailable

__all__ = [
    "Tail",
    "Timing",
    "event_stream",
    "format_event",
    "new_event_json",
    "server_stopping",
]

TAIL_BATCH = 100
PAGES_PER_POLL = 10
LOOKBACK = 50
HOLE_SECONDS = 5.0
MAX_GAP = 1_000
MAX_KEY_CHECK = 5_000
HOLE_RUNS_PER_POLL = 20


@dataclass(frozen=True, slots=True)
class Timing:
    poll: float = 0.5
    tick: float = 0.1
    lifetime: float = 8.0
    retry_ms: int = 1000


def server_stopping() -> bool:
    """True once the uvicorn server running this process has been told to exit.

    uvicorn keeps open responses running until they finish (or `timeout_graceful_shutdown`
    passes) and tells the application nothing, so a stream asks the SIGTERM handler's owner.
    """
    handler = signal.getsignal(signal.SIGTERM)
    owner = getattr(handler, "__self__", None)
    return bool(getattr(owner, "should_exit", False))


def format_event(
    data: str | None = None, *, event: str | None = None, id: int | None = None
) -> str:
    """One SSE message; `data` is a single line (JSON), so no field can be split or forged."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    if data is not None:
        lines.append("data: " + data.replace("\r", "\\r").replace("\n", "\\n"))
    return "\n".join(lines) + "\n\n"


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for number in ids:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def _plain_match(where: DeliveryFilter, delivery: Delivery) -> bool:
    return (
        (where.event is None or delivery.event == where.event)
        and (where.origin is None or delivery.origin == where.origin)
        and (where.origin_kind is None or delivery.origin_kind == where.origin_kind)
        and (where.status is None or delivery.status.value == where.status)
    )


class Tail:
    """Follows the delivery log past `cursor`, including ids that commit after later ones."""

    def __init__(self, store: Store, where: DeliveryFilter, cursor: int) -> None:
        self.store = store
        self.where = where
        self.cursor = cursor
        self.holes: dict[int, float] = {}
        self.more = False

    @property
    def resume(self) -> int:
        """Where a new stream must start to miss nothing: below the oldest open hole."""
        return min(self.holes) - 1 if self.holes else self.cursor

    def _skip(self, first: int, last: int, now: float) -> None:
        if 0 <= last - first < MAX_GAP:
            for missing in range(max(first, 1), last + 1):
                self.holes.setdefault(missing, now + HOLE_SECONDS)

    async def start(self, now: float) -> None:
        """Treat the ids just below the start that are not there yet as late commits."""
        low = max(self.cursor - LOOKBACK, 0)
        present = {d.id for d in await self.store.deliveries.after(low, limit=LOOKBACK)}
        for missing in range(low + 1, self.cursor + 1):
            if missing not in present:
                self.holes[missing] = now + HOLE_SECONDS

    async def poll(self, now: float) -> list[Delivery]:
        """The deliveries that appeared since the last poll and match, in id order."""
        self.holes = {i: until for i, until in self.holes.items() if until > now}
        found: list[Delivery] = []
        for first, last in _runs(sorted(self.holes))[:HOLE_RUNS_PER_POLL]:
            for late in await self.store.deliveries.after(first - 1, limit=last - first + 1):
                if late.id <= last and self.holes.pop(late.id, None) is not None:
                    found.append(late)
        self.more = False
        for _ in range(PAGES_PER_POLL):
            batch = await self.store.deliveries.after(self.cursor, limit=TAIL_BATCH)
            for delivery in batch:
                self._skip(self.cursor + 1, delivery.id - 1, now)
                self.cursor = delivery.id
            found.extend(batch)
            self.more = len(batch) == TAIL_BATCH
            if not self.more:
                break
        found.sort(key=lambda d: d.id)
        return await self._matching(found)

    async def _matching(self, found: list[Delivery]) -> list[Delivery]:
        wanted = [d for d in found if _plain_match(self.where, d)]
        if not self.where.q or not wanted:
            return wanted
        top = wanted[-1].id
        span = min(top - wanted[0].id + 1, MAX_KEY_CHECK)
        hits = await self.store.deliveries.page(self.where, limit=span, before_id=top + 1)
        keyed = {d.id for d in hits}
        return [d for d in wanted if d.id in keyed]


async def event_stream(
    store: Store,
    where: DeliveryFilter,
    after_id: int | None,
    render: Callable[[Sequence[Delivery]], Awaitable[list[str]]],
    is_disconnected: Callable[[], Awaitable[bool]],
    timing: Timing = Timing(),
    stopping: Callable[[], bool] = server_stopping,
) -> AsyncIterator[str]:
    """The stream's text: `delivery` events whose data `render` makes, and ids to resume from."""
    yield f"retry: {timing.retry_ms}\n\n"
    start = after_id if after_id is not None else await store.deliveries.newest_id()
    tail = Tail(store, where, start)
    started = time.monotonic()
    await tail.start(started)
    resume = tail.resume
    yield format_event(id=resume)
    next_poll = started
    while True:
        now = time.monotonic()
        if stopping() or now - started >= timing.lifetime or await is_disconnected():
            return
        if now >= next_poll:
            try:
                found = await tail.poll(now)
            except StoreUnavailable:
                return
            for data in await render(found):
                yield format_event(data, event="delivery")
            if tail.resume != resume:
                resume = tail.resume
                yield format_event(id=resume)
            next_poll = now if tail.more else now + timing.poll
            if tail.more:
                continue
        await asyncio.sleep(timing.tick)


def new_event_json(delivery_id: int, html: str) -> str:
    """The data of a `delivery` event: the id and the row's (escaped) HTML, as ASCII, so that no
    reader splits it at a line separator (U+2028) and every character survives the wire."""
    return json.dumps({"id": delivery_id, "html": html}, separators=(",", ":"))
