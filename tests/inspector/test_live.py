"""The live stream: polling the delivery log (as any instance on the database would see it),
filters, resuming, and ending promptly, including when the real server shuts down."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import httpx

from addon.inspector._live import (
    HOLE_SECONDS,
    Tail,
    Timing,
    _runs,
    event_stream,
    format_event,
    server_stopping,
)
from addon.store import Delivery, DeliveryFilter, DeliveryStatus, NewDelivery, Store, open_store
from tests.inspector.support import AUTH, running_jira, send_issue

FAST = Timing(poll=0.02, tick=0.01, lifetime=5.0, retry_ms=250)


def new(
    key: str,
    *,
    status: DeliveryStatus = DeliveryStatus.ACCEPTED,
    origin: str = "site-a",
    event: str = "jira:issue_created",
) -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin=origin,
        status=status,
        event=event,
        issue_key=key,
        search_keys=(key,) if status is not DeliveryStatus.REJECTED else (),
        body=b"{}",
    )


async def ids_only(deliveries: Sequence[Delivery]) -> list[str]:
    return [str(d.id) for d in deliveries]


async def never() -> bool:
    return False


class Stream:
    """An `event_stream` consumed in the background, its messages collected."""

    def __init__(
        self,
        store: Store,
        where: DeliveryFilter,
        *,
        after_id: int | None = None,
        is_disconnected: Callable[[], Awaitable[bool]] = never,
        timing: Timing = FAST,
    ) -> None:
        self.messages: list[str] = []
        self.stop = False
        stream = event_stream(
            store, where, after_id, ids_only, is_disconnected, timing, lambda: self.stop
        )
        self.task = asyncio.create_task(self._run(stream))

    async def _run(self, stream: AsyncIterator[str]) -> None:
        async for message in stream:
            self.messages.append(message)

    def sent(self) -> list[int]:
        return [int(m.split("data: ", 1)[1]) for m in self.messages if "event: delivery" in m]

    async def until(self, count: int, timeout: float = 5.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(self.sent()) < count:
            assert time.monotonic() < deadline, self.messages
            await asyncio.sleep(0.01)
        return self.sent()


def with_store(sqlite_url: str, scenario: Callable[[Store], Awaitable[None]]) -> None:
    """Run `scenario` against a started store on a SQLite file."""

    async def main() -> None:
        store = await open_store(sqlite_url)
        await store.start()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_format_event_keeps_data_on_one_line() -> None:
    text = format_event('{"a":"x\ny"}\nevent: forged', event="delivery", id=5)
    assert text == 'id: 5\nevent: delivery\ndata: {"a":"x\\ny"}\\nevent: forged\n\n'
    assert format_event(id=9) == "id: 9\n\n"


def test_server_stopping_reads_the_sigterm_handlers_owner() -> None:
    class Server:
        should_exit = False

        def handle_exit(self, sig: int, frame: object) -> None:
            self.should_exit = True

    server = Server()
    previous = signal.signal(signal.SIGTERM, server.handle_exit)
    try:
        assert server_stopping() is False
        server.should_exit = True
        assert server_stopping() is True
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert server_stopping() is False


def test_new_deliveries_in_order(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        old = await store.writer.record(new("OLD-1"))
        stream = Stream(store, DeliveryFilter())
        await asyncio.sleep(0.1)
        first = await store.writer.record(new("NEW-1"))
        second = await store.writer.record(new("NEW-2"))
        assert await stream.until(2) == [first.id, second.id]
        assert old.id not in stream.sent()
        assert stream.messages[0] == "retry: 250\n\n"
        assert f"id: {second.id}\n" in "".join(stream.messages)
        stream.stop = True
        await asyncio.wait_for(stream.task, 1)

    with_store(sqlite_url, scenario)


def test_filters_apply_to_the_stream(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        by_status = Stream(store, DeliveryFilter(status="rejected"))
        by_key = Stream(store, DeliveryFilter(q="ABC-1*"))
        by_exact = Stream(store, DeliveryFilter(q="ABC-1", origin="site-b", origin_kind="connect"))
        await asyncio.sleep(0.1)
        await store.writer.record(new("ABC-1"))
        store.writer.record_rejection(new("ABC-9", status=DeliveryStatus.REJECTED))
        b = await store.writer.record(new("ABC-1", origin="site-b"))
        await store.writer.record(new("XYZ-1"))
        c = await store.writer.record(new("ABC-12"))
        assert len(await by_key.until(3)) == 3
        assert await by_exact.until(1) == [b.id]
        rejected = await by_status.until(1)
        await asyncio.sleep(0.2)
        assert len(by_status.sent()) == 1
        shown = await store.deliveries.get(rejected[0])
        assert shown is not None and shown.status is DeliveryStatus.REJECTED
        assert by_key.sent()[-1] == c.id
        assert by_exact.sent() == [b.id]
        for stream in (by_status, by_key, by_exact):
            stream.stop = True
        await asyncio.gather(by_status.task, by_key.task, by_exact.task)

    with_store(sqlite_url, scenario)


def test_resumes_after_an_id(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        a = await store.writer.record(new("A-1"))
        b = await store.writer.record(new("A-2"))
        stream = Stream(store, DeliveryFilter(), after_id=a.id - 1)
        assert await stream.until(2) == [a.id, b.id]
        stream.stop = True
        await stream.task

    with_store(sqlite_url, scenario)


async def insert(store: Store, delivery_id: int, key: str = "LATE-1") -> None:
    """A row with a chosen id, as another instance's later-committing transaction leaves it."""
    await store.db.execute(
        "INSERT INTO deliveries (id, received_at, origin_kind, origin, status, event, issue_key) "
        "VALUES (?, ?, 'connect', 'site-a', 'accepted', 'jira:issue_created', ?)",
        (delivery_id, time.time(), key),
    )
    await store.db.execute(
        "INSERT INTO delivery_keys (search_key, delivery_id) VALUES (?, ?)", (key, delivery_id)
    )


def test_an_id_committed_late_is_still_sent(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        base = (await store.writer.record(new("BASE-1"))).id
        stream = Stream(store, DeliveryFilter())
        await asyncio.sleep(0.1)
        await insert(store, base + 2)
        assert await stream.until(1) == [base + 2]
        await insert(store, base + 1)
        assert await stream.until(2) == [base + 2, base + 1]
        text = "".join(stream.messages)
        assert f"id: {base + 2}\n" in text
        stream.stop = True
        await stream.task

    with_store(sqlite_url, scenario)


def test_tail_holes_expire_and_set_the_resume_point(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        base = (await store.writer.record(new("BASE-1"))).id
        tail = Tail(store, DeliveryFilter(q="LATE-*"), base)
        await tail.start(0.0)
        assert tail.holes == {} and tail.resume == base
        await insert(store, base + 3, "LATE-3")
        await insert(store, base + 4, "OTHER-4")
        assert [d.id for d in await tail.poll(1.0)] == [base + 3]
        assert set(tail.holes) == {base + 1, base + 2}
        assert tail.resume == base
        await insert(store, base + 2, "LATE-2")
        assert [d.id for d in await tail.poll(2.0)] == [base + 2]
        assert tail.resume == base
        assert await tail.poll(2.0 + HOLE_SECONDS) == []
        assert tail.holes == {} and tail.resume == base + 4
        await insert(store, base + 1, "LATE-1")
        assert await tail.poll(10.0 + HOLE_SECONDS) == []

        fresh = Tail(store, DeliveryFilter(), base + 10)
        await fresh.start(0.0)
        assert set(fresh.holes) == set(range(base + 5, base + 11))
        assert fresh.resume == base + 4

    with_store(sqlite_url, scenario)


def test_runs_of_holes() -> None:
    assert _runs([]) == []
    assert _runs([3, 4, 5, 9, 11, 12]) == [(3, 5), (9, 9), (11, 12)]


def test_an_open_hole_does_not_make_the_tail_rescan(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        base = (await store.writer.record(new("BASE-1"))).id
        tail = Tail(store, DeliveryFilter(), base)
        await tail.start(0.0)
        for offset in range(2, 252):
            await insert(store, base + offset, f"MANY-{offset}")
        first = await tail.poll(1.0)
        assert [d.id for d in first] == list(range(base + 2, base + 252))
        assert tail.holes.keys() == {base + 1} and not tail.more
        assert await tail.poll(1.5) == []
        await insert(store, base + 1)
        assert [d.id for d in await tail.poll(2.0)] == [base + 1]
        assert tail.resume == base + 251

    with_store(sqlite_url, scenario)


def test_ends_when_stopping_disconnected_or_old(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        stopped = Stream(store, DeliveryFilter())
        await asyncio.sleep(0.05)
        stopped.stop = True
        await asyncio.wait_for(stopped.task, 0.5)

        gone = False

        async def disconnected() -> bool:
            return gone

        left = Stream(store, DeliveryFilter(), is_disconnected=disconnected)
        await asyncio.sleep(0.05)
        gone = True
        await asyncio.wait_for(left.task, 0.5)

        started = time.monotonic()
        short = Stream(store, DeliveryFilter(), timing=Timing(poll=0.02, tick=0.01, lifetime=0.2))
        await asyncio.wait_for(short.task, 2)
        assert 0.15 < time.monotonic() - started < 1.5

    with_store(sqlite_url, scenario)


def test_shutdown_does_not_wait_for_an_open_stream(tmp_path: Path) -> None:
    """uvicorn's graceful shutdown waits up to 10 s for open responses; a stream ends at once."""
    with running_jira(f"sqlite:///{tmp_path}/addon.db", tmp_path) as jira:
        site = jira.install()
        opened = threading.Event()
        ended: list[float] = []

        def listen() -> None:
            url = f"{jira.base_url}/inspector/api/stream"
            with httpx.stream("GET", url, auth=AUTH, timeout=30) as response:
                assert response.status_code == 200
                for _ in response.iter_lines():
                    opened.set()
            ended.append(time.monotonic())

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10)
        assert send_issue(jira, site, "LIVE-1").status_code == 204
        time.sleep(0.3)
        started = time.monotonic()
        jira.server.stop()
        took = time.monotonic() - started
        listener.join(5)
        log = jira.server.log()
    assert jira.server.process is not None
    assert jira.server.process.returncode in (0, -signal.SIGTERM), log  # uvicorn re-raises it
    assert took < 3.0, f"shutdown took {took:.1f}s:\n{log}"
    assert ended and ended[0] - started < 3.0
    assert "timeout graceful shutdown exceeded" not in log
    assert "Application shutdown complete" in log
