"""The delivery log's writer: group commit of concurrent deliveries, duplicate and replay
detection, and a bounded, lossy lane for rejections so that junk can neither fill the disk nor
slow real ingest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from addon.store import _rejections
from addon.store._db import Conflict, Connection, Contention, Db, Refused, StoreUnavailable
from addon.store._records import DeliveryStatus, HandlerState, NewDelivery, Recorded
from addon.store._replays import REPLAYED, Seen, first_sightings, judge, seen_in
from addon.store._storable import fits_index, json_text, storable_text

__all__ = ["DeliveryWriter"]

logger = logging.getLogger("addon.store")

MAX_BATCH = 256
REJECTION_QUEUE = 2_000
PRUNE_EVERY = 200
DEFAULT_REJECTED_BYTES = 64 * 1024 * 1024

_COLUMNS = (
    "id", "received_at", "origin_kind", "origin", "event", "webhook_id", "retry", "flow", "status",
    "reason", "error_code", "method", "path", "context", "token", "canonical_request",
    "qsh_expected", "headers", "body", "body_size", "resource", "action", "issue_key",
    "project_key", "sprint_id", "actor", "handler_state", "next_attempt_at", "duplicate_of",
    "verification", "token_digest", "token_reused", "stored_bytes",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO deliveries ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_INSERT_KEY = "INSERT INTO delivery_keys (search_key, delivery_id) VALUES (?, ?)"

Pending = tuple[NewDelivery, "asyncio.Future[Recorded]"]


def _dedupe_key(delivery: NewDelivery) -> tuple[str, str | None, str | None]:
    """What makes a delivery a duplicate, as stored: origin and identifier."""
    origin, webhook_id = delivery.origin, delivery.webhook_id
    return (
        storable_text(delivery.origin_kind),
        None if origin is None else storable_text(origin),
        None if webhook_id is None else storable_text(webhook_id),
    )


class DeliveryWriter:
    """Writes deliveries in batches: every `record()` returns only after its batch has committed."""

    def __init__(
        self,
        db: Db,
        *,
        rejected_log_limit: int,
        handler_state: HandlerState,
        on_committed: Callable[[], None] | None = None,
        rejected_log_max_bytes: int = DEFAULT_REJECTED_BYTES,
    ) -> None:
        self._db = db
        self._rejected_limit = rejected_log_limit
        self._rejected_max_bytes = rejected_log_max_bytes
        self._handler_state = handler_state
        self._on_committed = on_committed
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._rejections: asyncio.Queue[NewDelivery] = asyncio.Queue(REJECTION_QUEUE)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._since_prune = 0
        self._bytes_since_prune = 0
        self.dropped_rejections = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="addon-delivery-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        self._wakeup.set()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._drained(), timeout=10)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(StoreUnavailable("the server is shutting down"))

    async def _drained(self) -> None:
        while not self._queue.empty() or not self._rejections.empty():
            await asyncio.sleep(0.01)

    async def record(self, delivery: NewDelivery) -> Recorded:
        """Write one delivery durably; raises StoreUnavailable if it could not be stored."""
        if self._task is None or self._task.done():
            raise StoreUnavailable("the delivery log is not running")
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((delivery, future))
        self._wakeup.set()
        return await future

    def record_rejection(self, delivery: NewDelivery) -> None:
        """Queue a rejection record, cut to its bounds; dropped (and counted) when the lane is full."""
        if self._rejected_limit <= 0 or self._rejected_max_bytes <= 0:
            return
        if self._rejections.full():
            self.dropped_rejections += 1
            return
        try:
            self._rejections.put_nowait(_rejections.bounded(delivery))
        except asyncio.QueueFull:
            self.dropped_rejections += 1
            return
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            connected = False
            try:
                async with self._db.connection() as conn:
                    connected = True
                    if not self._db.postgres:
                        await conn.execute(f"PRAGMA synchronous={self._db.synchronous}")
                    await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection: fail what was in flight, reconnect
                logger.warning("delivery log writer: %s; reconnecting", exc)
                if not connected:  # the database is away: 503 what waits, not wait it out
                    failure = (
                        exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
                    )
                    while not self._queue.empty():
                        _, future = self._queue.get_nowait()
                        if not future.done():
                            future.set_exception(failure)
                await asyncio.sleep(0.2)

    async def _serve(self, conn: Connection) -> None:
        while True:
            if self._queue.empty() and self._rejections.empty():
                self._wakeup.clear()
                await self._wakeup.wait()
            batch: list[Pending] = []
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            batch = [(d, f) for d, f in batch if not f.cancelled()]
            rejections: list[NewDelivery] = []
            while not self._rejections.empty() and len(rejections) < MAX_BATCH:
                rejections.append(self._rejections.get_nowait())
            if not batch and not rejections:
                continue
            try:
                results = await self._commit(conn, [d for d, _ in batch], rejections)
            except BaseException as exc:
                failure = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Recorded):
                    future.set_result(result)
                else:
                    future.set_exception(result)
            if self._on_committed is not None and any(
                isinstance(r, Recorded) and r.status is DeliveryStatus.ACCEPTED for r in results
            ):
                self._on_committed()

    async def _commit(
        self, conn: Connection, batch: Sequence[NewDelivery], rejections: Sequence[NewDelivery]
    ) -> list[Recorded | StoreUnavailable]:
        """Write a batch in one transaction; if the database refuses a value, each on its own.

        One record the database refuses (a value past a limit nobody foresaw) must not cost the
        others their commit: they are written again one by one, and only that one is refused.
        Any other failure (the database away, locked, full) fails the batch: the writer
        reconnects, and Jira retries what was answered 503.
        """
        try:
            return list(await conn.in_one_trip(self._write, batch, rejections))
        except (Conflict, Contention):
            pass  # another instance stored one of these first, or wrote beside them: one by one
        except Refused as exc:
            logger.warning(
                "delivery log writer: a batch of %d was refused (%s); writing each on its own",
                len(batch) + len(rejections), exc,
            )  # fmt: skip
        return await self._write_one_by_one(conn, batch, rejections)

    async def _write(
        self, conn: Connection, batch: Sequence[NewDelivery], rejections: Sequence[NewDelivery]
    ) -> list[Recorded]:
        async with conn.transaction():
            ids = await self._allocate_ids(conn, len(batch) + len(rejections))
            existing = await self._existing(conn, batch)
            firsts = await first_sightings(conn, batch)
            results: list[Recorded] = []
            rows: list[tuple[Any, ...]] = []
            keys: list[tuple[str, int]] = []
            for delivery, delivery_id in zip(batch, ids, strict=False):
                dedupe = _dedupe_key(delivery)
                result, digest = judge(delivery, delivery_id, firsts, existing, dedupe)
                rows.append(self._row(delivery, result, digest))
                results.append(result)
                if result.status is DeliveryStatus.REJECTED:
                    continue
                # An accepted delivery's identifier is already in deliveries_one_accepted, which
                # searches use: a second copy in delivery_keys would be one more random page
                # written per delivery (identifiers are random), the costliest part of a write.
                indexed = dedupe[2] if result.status is DeliveryStatus.ACCEPTED else None
                keys.extend(
                    (key, delivery_id)
                    for key in dict.fromkeys(map(storable_text, delivery.search_keys))
                    if key != indexed and fits_index(key)  # a longer one stays in its column
                )
            for delivery, delivery_id in zip(rejections, ids[len(batch) :], strict=True):
                rows.append(self._row(delivery, Recorded(delivery_id, DeliveryStatus.REJECTED)))
            await conn.executemany(_INSERT, rows)
            if keys:
                await conn.executemany(_INSERT_KEY, keys)
            replays = [
                row
                for row, result in zip(rows, results, strict=False)
                if result.status is DeliveryStatus.REJECTED
            ]
            if rejections or replays:
                await self._prune_rejections(conn, [*replays, *rows[len(batch) :]])
        return results

    async def _write_one_by_one(
        self, conn: Connection, batch: Sequence[NewDelivery], rejections: Sequence[NewDelivery]
    ) -> list[Recorded | StoreUnavailable]:
        """Each record in a transaction of its own: after a uniqueness conflict (another instance
        stored the same delivery), or after the database refused a value."""
        results = [await self._write_alone(conn, delivery) for delivery in batch]
        for rejection in rejections:
            try:
                await conn.in_one_trip(self._write, [], [rejection])
            except (Conflict, Contention, Refused) as exc:
                logger.warning("delivery log writer: a rejection record was refused: %s", exc)
        return results

    async def _write_alone(
        self, conn: Connection, delivery: NewDelivery
    ) -> Recorded | StoreUnavailable:
        for _ in range(3):
            try:
                return (await conn.in_one_trip(self._write, [delivery], []))[0]
            except (Conflict, Contention):
                continue
            except Refused as exc:
                logger.error(
                    "delivery log writer: the database refused a delivery from %s %s (%s): %s",
                    delivery.origin_kind, delivery.origin, delivery.event, exc,
                )  # fmt: skip
                return exc
        return StoreUnavailable("could not store the delivery after repeated conflicts")

    def _row(
        self, delivery: NewDelivery, recorded: Recorded, digest: bytes | None = None
    ) -> tuple[Any, ...]:
        """The row of `delivery` as `recorded`, with the digest of its token kept for later
        comparisons; a replay found here (of a delivery that passed) is written as rejected."""
        status = recorded.status
        pending = status is DeliveryStatus.ACCEPTED and self._handler_state is HandlerState.PENDING
        replayed = status is DeliveryStatus.REJECTED and delivery.status is not status
        row = tuple(storable_text(v) if isinstance(v, str) else v for v in (
            recorded.id,
            delivery.received_at,
            delivery.origin_kind,
            delivery.origin,
            delivery.event,
            delivery.webhook_id,
            delivery.retry,
            delivery.flow,
            status.value,
            recorded.reason if replayed else delivery.reason,
            REPLAYED if replayed else delivery.error_code,
            delivery.method,
            delivery.path,
            json_text(dict(delivery.context)),
            json_text(delivery.token) if delivery.token is not None else None,
            delivery.canonical_request,
            delivery.qsh_expected,
            json_text(dict(delivery.headers)),
            delivery.body,
            delivery.body_size,
            delivery.resource,
            delivery.action,
            delivery.issue_key,
            delivery.project_key,
            delivery.sprint_id,
            delivery.actor,
            (HandlerState.PENDING if pending else HandlerState.NONE).value,
            delivery.received_at if pending else None,
            recorded.duplicate_of,
            json_text(dict(delivery.verification)) if delivery.verification is not None else None,
            digest,
            1 if recorded.token_reused else 0,
        ))  # fmt: skip
        if status is not DeliveryStatus.REJECTED:
            return (*row, None)
        return (*row, _rejections.stored_bytes(row))

    async def _allocate_ids(self, conn: Connection, count: int) -> list[int]:
        if count == 0:
            return []
        if self._db.postgres:
            rows = await conn.fetch_all(
                "SELECT nextval(pg_get_serial_sequence('deliveries', 'id')) AS id "
                "FROM generate_series(1, ?)",
                (count,),
            )
            return [int(row["id"]) for row in rows]
        row = await conn.fetch_one(
            "SELECT MAX(n) AS top FROM (SELECT MAX(id) AS n FROM deliveries "
            "UNION ALL SELECT seq AS n FROM sqlite_sequence WHERE name = 'deliveries')"
        )
        top = int(row["top"]) if row is not None and row["top"] is not None else 0
        return list(range(top + 1, top + 1 + count))

    async def _existing(
        self, conn: Connection, batch: Sequence[NewDelivery]
    ) -> dict[tuple[str, str | None, str | None], Seen]:
        wanted: dict[tuple[str, str | None], set[str]] = {}
        for d in batch:
            origin_kind, origin, webhook_id = _dedupe_key(d)
            if webhook_id is not None and d.status is DeliveryStatus.ACCEPTED:
                wanted.setdefault((origin_kind, origin), set()).add(webhook_id)
        found: dict[tuple[str, str | None, str | None], Seen] = {}
        for (origin_kind, origin), webhook_ids in wanted.items():
            # One probe of deliveries_one_accepted (origin_kind, origin, webhook_id) per identifier,
            # whatever the size of the log. SQLite is told the index: left to itself it walks every
            # accepted delivery of the tenant (status or (origin, status)): 1.2 s per batch at a
            # million rows.
            marks = ", ".join("?" for _ in webhook_ids)
            rows = await conn.fetch_all(
                "SELECT webhook_id, id, token_digest, body FROM deliveries"
                + ("" if self._db.postgres else " INDEXED BY deliveries_one_accepted")
                + " WHERE origin_kind = ? AND "
                + ("origin IS NULL" if origin is None else "origin = ?")
                + f" AND status = 'accepted' AND webhook_id IN ({marks})",
                (origin_kind, *(() if origin is None else (origin,)), *webhook_ids),
            )
            found.update({(origin_kind, origin, r["webhook_id"]): seen_in(r) for r in rows})
        return found

    async def _prune_rejections(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        self._since_prune += len(rows)
        self._bytes_since_prune += sum(row[-1] or 0 for row in rows)
        if self._since_prune < min(
            PRUNE_EVERY, max(1, self._rejected_limit // 10)
        ) and self._bytes_since_prune < max(1, self._rejected_max_bytes // 10):
            return
        self._since_prune = self._bytes_since_prune = 0
        await _rejections.prune(
            conn, max_rows=self._rejected_limit, max_bytes=self._rejected_max_bytes
        )
