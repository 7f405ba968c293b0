"""The database going away: 503 answers (Jira retries them), never a 2xx for a delivery that was
not stored, and recovery without a restart once the database is back.

PostgreSQL: the server's connections are terminated (pg_terminate_backend, on this test's own
database only), and a loopback TCP proxy between the server and PostgreSQL is cut for a few
seconds. SQLite: another connection holds the file locked for longer than the busy timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from addon.simulator import SimulatedSite
from addon.store import DeliveryStatus, NewDelivery, Recorded, StoreUnavailable, open_store
from addon.store._db import SQLITE_BUSY_TIMEOUT_SECONDS, Conflict
from tests.auth.keyserver import KeyServer
from tests.conftest import postgres_database
from tests.reliability.support import (
    Jira,
    TcpProxy,
    accepted_by_identifier,
    assert_json_refusal,
    assert_no_server_errors,
    base_env,
    terminate_backends,
    until,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://addon.outage.test"
OUTAGE_SECONDS = 3.0


@dataclass
class Node:
    server: LiveServer
    jira: Jira
    database_url: str
    cached: SimulatedSite  # its tenant is in the server's cache when the database goes
    cold: SimulatedSite  # installed, but never looked up: the lookup itself meets the outage
    answers: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def send(self, site: SimulatedSite, *, timeout: float = 15.0) -> tuple[httpx.Response, float]:
        """One webhook; every answer is noted by identifier for the final check."""
        with self.lock:
            self.counter += 1
            identifier = f"outage-{self.counter}"
        started = time.monotonic()
        response = self.jira.webhook(self.server.url, site, identifier, timeout=timeout)
        with self.lock:
            self.answers[identifier] = response.status_code
        return response, time.monotonic() - started

    def fresh_cold(self) -> None:
        """A newly installed site: not in the tenant cache, so its lookup meets the outage."""
        site = self.jira.site()
        assert self.jira.install(self.server.url, site).status_code == 204
        self.cold = site

    def health(self) -> int:
        response = httpx.get(self.server.url + "/healthz", timeout=15)
        assert response.status_code in (200, 503), response.text
        body = response.json()
        if response.status_code == 503:
            assert body["status"] == "unavailable" and body["reason"], body
        else:
            assert body == {"status": "ok"}
        return response.status_code

    def check_log(self) -> None:
        """Every 2xx is stored exactly once; nothing is stored twice."""
        stored = accepted_by_identifier(self.database_url, list(self.answers))
        acknowledged = [i for i, status in self.answers.items() if 200 <= status < 300]
        assert acknowledged
        missing = [i for i in acknowledged if len(stored[i]) != 1]
        assert not missing, f"answered 2xx but not stored: {missing}"
        assert all(len(ids) <= 1 for ids in stored.values())

    def recovers(self) -> None:
        """Without a restart: webhooks answered 204 again, and the health check 200."""

        def accepted() -> bool:
            response, _ = self.send(self.cold)
            if response.status_code != 204:
                assert_json_refusal(response, 503)
            return response.status_code == 204

        until(accepted, timeout=15, interval=0.1, what="webhooks accepted again")
        until(lambda: self.health() == 200, timeout=15, interval=0.1, what="healthy again")
        for site in (self.cached, self.cold):
            assert self.send(site)[0].status_code == 204


def start_node(database_url: str, keys: KeyServer, directory: Path, **env: str) -> Node:
    jira = Jira(keys, PUBLIC_URL)
    server = LiveServer(
        base_env(database_url, keys, ADDON_BASE_URL=PUBLIC_URL, **env), log_dir=directory
    ).start()
    try:
        cached, cold = jira.site(), jira.site()
        for site in (cached, cold):
            assert jira.install(server.url, site).status_code == 204
    except BaseException:
        server.stop()
        raise
    return Node(server, jira, database_url, cached, cold)


def through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
def postgres(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Node, TcpProxy, str]]:
    directory = tmp_path_factory.mktemp("outage-postgres")
    with postgres_database(postgres_server) as direct, KeyServer() as keys:
        parts = urlsplit(direct)
        with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
            # A long tenant cache: during the outage, verification succeeds from the cache and
            # the delivery meets the outage in the delivery writer (the `cold` site covers the
            # tenant lookup).
            node = start_node(through(proxy, direct), keys, directory, TENANT_CACHE_SECONDS="60")
            try:
                yield node, proxy, direct
            finally:
                node.server.stop()
        assert_no_server_errors(node.server.log())


@pytest.mark.postgres
def test_terminated_connections_503_then_recover(postgres: tuple[Node, TcpProxy, str]) -> None:
    node, _, direct = postgres
    node.fresh_cold()
    assert node.send(node.cached)[0].status_code == 204
    assert terminate_backends(direct) >= 1
    for _ in range(12):
        for site in (node.cached, node.cold):
            response, elapsed = node.send(site)
            if response.status_code != 204:
                assert_json_refusal(response, 503)
            assert elapsed < 5, f"{elapsed:.1f}s for one answer"
    node.recovers()
    node.check_log()


@pytest.mark.postgres
def test_database_cut_away_503_then_recover(postgres: tuple[Node, TcpProxy, str]) -> None:
    node, proxy, _ = postgres
    node.fresh_cold()
    assert node.send(node.cached)[0].status_code == 204
    assert node.health() == 200
    proxy.cut()
    try:
        cut_at = time.monotonic()
        refused = 0
        while time.monotonic() - cut_at < OUTAGE_SECONDS:
            for site in (node.cached, node.cold):
                response, elapsed = node.send(site)
                refusal = assert_json_refusal(response, 503)
                assert refusal["error"] == "store_unavailable", refusal
                assert elapsed < 5, f"{elapsed:.1f}s for one answer during the outage"
                refused += 1
            assert node.health() == 503
        assert refused >= 4
    finally:
        proxy.restore()
    node.recovers()
    node.check_log()


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Path]]:
    directory = tmp_path_factory.mktemp("outage-sqlite")
    path = directory / "addon.db"
    with KeyServer() as keys:
        node = start_node(f"sqlite:///{path}", keys, directory)
        try:
            yield node, path
        finally:
            node.server.stop()
    assert_no_server_errors(node.server.log())


def test_sqlite_file_locked_503_then_recover(sqlite: tuple[Node, Path]) -> None:
    node, path = sqlite
    assert node.send(node.cached)[0].status_code == 204
    hold = SQLITE_BUSY_TIMEOUT_SECONDS + 1.5
    pool, checker = ThreadPoolExecutor(8), ThreadPoolExecutor(1)
    try:
        holder = sqlite3.connect(path, isolation_level=None, timeout=1)
        holder.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        # Reads go on, but the health check's write cannot: it is unhealthy while locked.
        health = checker.submit(node.health)
        try:
            # The first, alone in its batch, waits out the busy timeout while the lock is held.
            sent = [pool.submit(node.send, node.cached)]
            time.sleep(1.0)
            while time.monotonic() - locked_at < hold - 0.5:
                sent.append(pool.submit(node.send, node.cold))
                sent.append(pool.submit(node.send, node.cached))
                time.sleep(0.5)
            first, took = sent[0].result(timeout=SQLITE_BUSY_TIMEOUT_SECONDS + 5)
            assert first.status_code == 503, first.text
            # Refused once the busy timeout ran out, while the file was still locked.
            assert SQLITE_BUSY_TIMEOUT_SECONDS - 0.5 <= took < hold - 0.2, (
                f"answered after {took:.1f}s\n{node.server.log()[-5000:]}"
            )
            assert health.result(timeout=SQLITE_BUSY_TIMEOUT_SECONDS + 5) == 503
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        released_at = time.monotonic()
        for future in sent:
            response, elapsed = future.result(timeout=30)
            if response.status_code != 204:
                assert_json_refusal(response, 503)
            assert elapsed < SQLITE_BUSY_TIMEOUT_SECONDS + 2, f"{elapsed:.1f}s for one answer"
    finally:
        pool.shutdown()
        checker.shutdown()
    assert node.send(node.cached)[0].status_code == 204
    assert time.monotonic() - released_at < 5
    node.recovers()
    node.check_log()


def test_writer_answers_every_waiting_delivery_when_its_slow_path_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that meets a uniqueness conflict (another instance stored the same delivery) is
    written again one by one; if the database fails then, its deliveries get 503, not silence."""

    def delivery(identifier: str) -> NewDelivery:
        return NewDelivery(
            received_at=time.time(),
            origin_kind="connect",
            origin="tenant-1",
            status=DeliveryStatus.ACCEPTED,
            event="jira:issue_updated",
            webhook_id=identifier,
            body=b"{}",
        )

    async def scenario() -> None:
        database_url = f"sqlite:///{tmp_path}/writer.db"
        store = await open_store(database_url)
        await store.start()
        try:
            calls = 0

            async def conflict_then_outage(*args: object) -> list[Recorded]:
                nonlocal calls
                calls += 1
                if calls == 1:
                    raise Conflict("another instance stored the same delivery")
                raise StoreUnavailable("the database failed: connection lost")

            with monkeypatch.context() as patch:
                patch.setattr(store.writer, "_write", conflict_then_outage)
                with pytest.raises(StoreUnavailable):
                    await asyncio.wait_for(store.writer.record(delivery("slow-1")), timeout=5)
            assert calls >= 2, "the slow path was not taken"
            # The writer carries on; nothing was stored for the refused delivery.
            recorded = await asyncio.wait_for(store.writer.record(delivery("slow-2")), timeout=5)
            assert recorded.status is DeliveryStatus.ACCEPTED
        finally:
            await store.close()
        stored = accepted_by_identifier(database_url, ["slow-1", "slow-2"])
        assert stored["slow-1"] == [] and len(stored["slow-2"]) == 1

    asyncio.run(scenario())
