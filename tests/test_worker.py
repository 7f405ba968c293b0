"""The worker: at least once, never for duplicates, never concurrently, retries, resume, takeover."""

from __future__ import annotations

import asyncio
import gc
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx

from addon.connect import ConnectDoor, render_for
from addon.delivery import Origin
from addon.doors import JiraClientFactory, Runtime
from addon.handlers import Event, Handlers
from addon.settings import Settings
from addon.store import DeliveryStatus, HandlerState, NewDelivery, Store, open_store
from addon.worker import Worker, backoff, failure_text


def delivery(webhook_id: str | None, event: str = "jira:issue_updated") -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=DeliveryStatus.ACCEPTED,
        event=event,
        webhook_id=webhook_id,
        body=b'{"issue": {"key": "PRJ-1"}}',
        context={"issue.key": "PRJ-1"},
    )


def run(database_url: str, scenario: Callable[[Store], Awaitable[None]]) -> None:
    async def go() -> None:
        store = await open_store(database_url, handler_state=HandlerState.PENDING)
        await store.start()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(go())


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def states(store: Store) -> Counter[str]:
    return Counter(await store.queue.counts())


def test_backoff_grows_and_is_capped() -> None:
    assert 0.5 <= backoff(1) <= 1.0
    assert 4.0 <= backoff(4) <= 8.0
    assert backoff(50, cap=300) <= 300


def test_each_accepted_delivery_handled_once_duplicates_never(database_url: str) -> None:
    seen: list[tuple[int, str, str | None]] = []
    handlers = Handlers()

    @handlers.on("*")
    async def record(event: Event) -> None:
        seen.append((event.delivery_id, event.name, event.view.issue_key))

    async def scenario(store: Store) -> None:
        results = [await store.writer.record(delivery(w)) for w in ("a", "b", "a", "c", "b")]
        worker = Worker(store, handlers, poll_interval=0.05)
        await worker.start()
        await until(lambda: _done(store, 3))
        await worker.stop()
        accepted = {r.id for r in results if r.status is DeliveryStatus.ACCEPTED}
        assert sorted(d for d, _, _ in seen) == sorted(accepted)
        assert {(n, k) for _, n, k in seen} == {("jira:issue_updated", "PRJ-1")}
        assert (await states(store))["none"] == 2

    run(database_url, scenario)


async def _done(store: Store, count: int) -> bool:
    return (await states(store))["done"] >= count


def test_failing_handler_is_retried_then_succeeds(database_url: str) -> None:
    attempts: list[int] = []
    handlers = Handlers()

    @handlers.on("jira:issue_updated")
    async def flaky(event: Event) -> None:
        attempts.append(event.attempt)
        if len(attempts) < 3:
            raise RuntimeError(f"boom {len(attempts)}")

    async def scenario(store: Store) -> None:
        recorded = await store.writer.record(delivery("flaky"))
        worker = Worker(store, handlers, poll_interval=0.02, backoff_base=0.01, backoff_cap=0.05)
        await worker.start()
        await until(lambda: _done(store, 1))
        await worker.stop()
        stored = await store.deliveries.get(recorded.id)
        assert stored is not None
        assert stored.handler_state is HandlerState.DONE
        assert stored.attempts == 3
        assert stored.last_error is None
        assert attempts == [1, 2, 3]

    run(database_url, scenario)


def test_handler_that_always_fails_is_marked_failed(database_url: str) -> None:
    handlers = Handlers()

    @handlers.on("*")
    async def broken(event: Event) -> None:
        raise ValueError("the handler is broken")

    async def scenario(store: Store) -> None:
        recorded = await store.writer.record(delivery("broken"))
        worker = Worker(
            store, handlers, max_attempts=3, poll_interval=0.02, backoff_base=0.01, backoff_cap=0.02
        )
        await worker.start()
        await until(lambda: _state_is(store, recorded.id, HandlerState.FAILED))
        await worker.stop()
        stored = await store.deliveries.get(recorded.id)
        assert stored is not None
        assert stored.attempts == 3
        assert (
            stored.last_error is not None
            and "ValueError: the handler is broken" in stored.last_error
        )

    run(database_url, scenario)


async def _state_is(store: Store, delivery_id: int, state: HandlerState) -> bool:
    stored = await store.deliveries.get(delivery_id)
    return stored is not None and stored.handler_state is state


def test_unfinished_work_resumes_after_a_crash(database_url: str) -> None:
    runs: list[int] = []
    handlers = Handlers()

    @handlers.on("*")
    async def handler(event: Event) -> None:
        runs.append(event.delivery_id)

    async def scenario(store: Store) -> None:
        recorded = await store.writer.record(delivery("crash"))
        claimed = await store.queue.claim("crashed-worker", lease_seconds=0.3, limit=10)
        assert [d.id for d in claimed] == [recorded.id]
        survivor = Worker(store, handlers, lease_seconds=5, poll_interval=0.05)
        await survivor.start()
        await until(lambda: _done(store, 1))
        await survivor.stop()
        assert runs == [recorded.id]
        assert not await store.queue.complete("crashed-worker", recorded.id)

    run(database_url, scenario)


def test_two_workers_never_run_one_delivery_at_once(database_url: str) -> None:
    running: set[int] = set()
    overlaps: list[int] = []
    finished: Counter[int] = Counter()
    handlers = Handlers()

    @handlers.on("*")
    async def slow(event: Event) -> None:
        if event.delivery_id in running:
            overlaps.append(event.delivery_id)
        running.add(event.delivery_id)
        await asyncio.sleep(0.6)
        running.discard(event.delivery_id)
        finished[event.delivery_id] += 1

    async def scenario(store: Store) -> None:
        for index in range(12):
            await store.writer.record(delivery(f"pair-{index}"))
        workers = [
            Worker(store, handlers, lease_seconds=0.3, poll_interval=0.02, concurrency=4)
            for _ in range(2)
        ]
        for worker in workers:
            await worker.start()
        await until(lambda: _done(store, 12), timeout=20)
        for worker in workers:
            await worker.stop()
        assert overlaps == []
        assert set(finished.values()) == {1}
        assert len(finished) == 12

    run(database_url, scenario)


def test_handler_calls_jira_back_with_a_signed_client(database_url: str) -> None:
    """`event.jira_client()` signs for the tenant; the fake Jira verifies with our own verifier."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from addon.auth import verify_symmetric
    from addon.handlers import NoJiraClient
    from tests.support.loopback import LoopbackServer

    secret = "S" * 64
    seen: list[str] = []

    async def myself(request: Request) -> JSONResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        token = request.headers["authorization"].removeprefix("JWT ")

        async def secret_for(issuer: str) -> str | None:
            return secret if issuer == "test-addon" else None

        verified = await verify_symmetric(
            token, method="GET", url=target, base_url="", secret_for=secret_for, leeway=0
        )
        seen.append(verified.claims["iss"])
        return JSONResponse({"accountId": "me"})

    answers: list[object] = []
    handlers = Handlers()

    @handlers.on("*")
    async def call_back(event: Event) -> None:
        if event.origin.kind == "source":
            try:
                event.jira_client()
            except NoJiraClient as exc:
                answers.append(str(exc)[:20])
            return
        async with event.jira_client() as jira:
            answers.append((await jira.get("/rest/api/3/myself")).json())

    with LoopbackServer(Starlette(routes=[Route("/rest/api/3/myself", myself)])) as fake:

        async def scenario(store: Store) -> None:
            await store.tenants.save_installation(
                {
                    "key": "test-addon",
                    "clientKey": "tenant-1",
                    "sharedSecret": secret,
                    "baseUrl": fake.url,
                },
                iat=1,
            )
            await store.writer.record(delivery("call-back"))
            from_source = delivery("from-source")
            from_source.origin_kind, from_source.origin = "source", "jira-dc"
            await store.writer.record(from_source)
            settings = Settings(key="test-addon")
            connect = ConnectDoor(settings, render_for(settings))
            async with httpx.AsyncClient() as http:
                await connect.start(Runtime(store, http))
                worker = Worker(store, handlers, poll_interval=0.05, doors={"connect": connect})
                await worker.start()
                await until(lambda: _done(store, 2))
                await worker.stop()

        run(database_url, scenario)
    assert {"accountId": "me"} in answers
    assert any(isinstance(a, str) and a.startswith("no signed client") for a in answers)
    assert seen == ["test-addon"]


def _ping(depth: int) -> None:
    if depth == 0:
        raise RuntimeError("deep failure: the handler could not reach its stream")
    _pong(depth - 1)


def _pong(depth: int) -> None:
    _ping(depth - 1)


def _raised(depth: int) -> BaseException:
    try:
        _ping(depth)
    except RuntimeError as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_failure_text_cuts_a_long_traceback_at_line_boundaries() -> None:
    exc = _raised(300)
    whole = "".join(traceback.format_exception(exc)).splitlines()
    text = failure_text(exc, limit=1_000)
    summary, blank, *shown = text.split("\n")
    assert summary == "RuntimeError: deep failure: the handler could not reach its stream"
    assert blank == ""
    assert len(text) <= 1_000
    assert shown[0].startswith("… ") and shown[0].endswith(
        "earlier line(s) of the traceback left out"
    )
    left_out = int(shown[0].split()[1])
    assert shown[1:] == whole[left_out:]
    assert shown[-1] == summary


def test_failure_text_keeps_a_short_traceback_whole() -> None:
    exc = _raised(2)
    text = failure_text(exc)
    assert text.split("\n")[2:] == "".join(traceback.format_exception(exc)).splitlines()


def test_failure_text_of_a_huge_message_stays_bounded_and_ends_with_it() -> None:
    try:
        raise ValueError("word " * 5_000)
    except ValueError as exc:
        text = failure_text(exc)
    lines = text.split("\n")
    assert len(text) <= 3_500
    assert lines[0].startswith("ValueError: word word") and lines[0].endswith("word…")
    assert lines[-1] == lines[0]


def test_a_failed_handler_error_is_stored_from_a_line_start(database_url: str) -> None:
    handlers = Handlers()

    @handlers.on("*")
    async def deep(event: Event) -> None:
        _ping(400)

    async def scenario(store: Store) -> None:
        recorded = await store.writer.record(delivery("deep"))
        worker = Worker(store, handlers, max_attempts=1, poll_interval=0.02)
        await worker.start()
        await until(lambda: _state_is(store, recorded.id, HandlerState.FAILED))
        await worker.stop()
        stored = await store.deliveries.get(recorded.id)
        assert stored is not None and stored.last_error is not None
        summary, blank, cut, *frames = stored.last_error.split("\n")
        assert summary == "RuntimeError: deep failure: the handler could not reach its stream"
        assert blank == "" and cut.startswith("… ")
        assert frames[0].startswith("  File ") and frames[-1] == summary


def test_a_handler_error_no_database_takes_as_text_still_stops_at_max_attempts(
    database_url: str,
) -> None:
    """An error message holding a lone surrogate or a NUL is stored as its escape: the delivery
    is marked failed after `max_attempts`, not retried forever as its failure fails to store."""
    handlers = Handlers()

    @handlers.on("*")
    async def broken(event: Event) -> None:
        raise ValueError(f"bad key {event.webhook_id}: \ud800 and a\x00b")

    async def scenario(store: Store) -> None:
        problems: list[dict[str, object]] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: problems.append(context)
        )
        recorded = await store.writer.record(delivery("hostile-error"))
        worker = Worker(
            store,
            handlers,
            max_attempts=3,
            lease_seconds=1.0,
            poll_interval=0.02,
            backoff_base=0.01,
            backoff_cap=0.02,
        )
        await worker.start()
        await until(lambda: _state_is(store, recorded.id, HandlerState.FAILED))
        await worker.stop()
        gc.collect()  # a task that died with its exception unread reports it when collected
        stored = await store.deliveries.get(recorded.id)
        assert stored is not None and stored.attempts == 3
        assert stored.last_error is not None
        assert "bad key hostile-error: \\ud800 and a\\u0000b" in stored.last_error
        assert problems == []

    run(database_url, scenario)


def test_the_worker_survives_any_failure_of_a_store_call(database_url: str) -> None:
    """A store call that raises something other than StoreUnavailable is logged and retried
    later (its lease expires); no task dies with its exception unread."""
    handlers = Handlers()
    ran: list[int] = []

    @handlers.on("*")
    async def fine(event: Event) -> None:
        ran.append(event.delivery_id)

    async def scenario(store: Store) -> None:
        problems: list[dict[str, object]] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: problems.append(context)
        )
        complete = store.queue.complete
        failures = 2

        async def flaky_complete(owner: str, delivery_id: int) -> bool:
            nonlocal failures
            if failures:
                failures -= 1
                raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
            return await complete(owner, delivery_id)

        store.queue.complete = flaky_complete  # type: ignore[method-assign]
        recorded = await store.writer.record(delivery("flaky-store"))
        worker = Worker(
            store,
            handlers,
            max_attempts=5,
            lease_seconds=1.0,
            poll_interval=0.02,
            backoff_base=0.01,
            backoff_cap=0.02,
        )
        await worker.start()
        await until(lambda: _state_is(store, recorded.id, HandlerState.DONE))
        await worker.stop()
        gc.collect()
        assert ran == [recorded.id] * 3
        assert problems == []

    run(database_url, scenario)


class KindDoor:
    """A door of any kind, as far as the worker sees one: it builds clients for its origins."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.asked: list[Origin] = []

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        self.asked.append(origin)
        site = f"https://{origin.key}.example"
        return JiraClientFactory(site, lambda: httpx.AsyncClient(base_url=site))


def test_a_handler_sees_the_origin_kind_that_was_ingested(database_url: str) -> None:
    handlers = Handlers()
    seen: list[tuple[str, str, str, str]] = []

    @handlers.on("*")
    async def note(event: Event) -> None:
        client = str(event.jira_client().base_url)
        seen.append((event.origin.kind, event.origin.key, event.origin.site_url or "", client))

    forge, sites = KindDoor("forge"), KindDoor("site")

    async def scenario(store: Store) -> None:
        for kind, origin in (("forge", "install-1"), ("site", "cloud-2")):
            new = delivery(f"{kind}-1")
            new.origin_kind, new.origin = kind, origin
            await store.writer.record(new)
        worker = Worker(store, handlers, poll_interval=0.05, doors={"forge": forge, "site": sites})
        await worker.start()
        await until(lambda: _done(store, 2))
        await worker.stop()

    run(database_url, scenario)
    assert sorted(seen) == [
        ("forge", "install-1", "https://install-1.example", "https://install-1.example"),
        ("site", "cloud-2", "https://cloud-2.example", "https://cloud-2.example"),
    ]
    assert forge.asked == [Origin("forge", "install-1")]
    assert sites.asked == [Origin("site", "cloud-2")]


def test_stop_lets_a_store_call_in_flight_finish(database_url: str) -> None:
    """Stopping waits for the claim under way instead of cancelling it mid-transaction (which
    left asyncpg to reset a connection with an active transaction)."""

    async def scenario(store: Store) -> None:
        claim = store.queue.claim
        entered, release = asyncio.Event(), asyncio.Event()
        finished: list[bool] = []

        async def slow_claim(*args: object, **kwargs: object) -> list[object]:
            entered.set()
            try:
                await release.wait()
                result = await claim(*args, **kwargs)  # type: ignore[arg-type]
            except asyncio.CancelledError:
                finished.append(False)
                raise
            finished.append(True)
            return result  # type: ignore[return-value]

        store.queue.claim = slow_claim  # type: ignore[method-assign]
        worker = Worker(store, Handlers(), poll_interval=0.02)
        await worker.start()
        await asyncio.wait_for(entered.wait(), timeout=5)
        stopping = asyncio.create_task(worker.stop(grace=5.0))
        await asyncio.sleep(0.1)
        release.set()
        await stopping
        assert finished == [True]

    run(database_url, scenario)
