"""Bounds at the edge, against a real server process on SQLite and on PostgreSQL: a value too long
to index costs only its own delivery, a refused request stores a bounded record, a database
failure is told to clients in general terms, and a database that cannot write is unhealthy."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from addon.simulator import SimulatedSite
from addon.sources import SourceMode, Sources
from addon.store import open_store
from tests.auth.keyserver import KeyServer
from tests.conftest import POSTGRES_ADMIN_URL
from tests.reliability.support import (
    Jira,
    assert_json_refusal,
    assert_no_server_errors,
    base_env,
    query,
    raw_request,
    scalar,
    terminate_backends,
    until,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://addon.bounds.test"
SOURCE_SECRET = "s" * 40
REJECTED_MAX_BYTES = 512 * 1024
RECORD_BYTES = 64 * 1024
INSPECTOR = ("inspector", "bounds inspector password")


@dataclass
class Node:
    server: LiveServer
    jira: Jira
    database_url: str
    source_key: str


def add_source(database_url: str) -> str:
    async def add() -> str:
        store = await open_store(database_url)
        try:
            source = await Sources(store.db, store.box).add(
                "bounds-dc", SourceMode.BEARER, SOURCE_SECRET
            )
            return source.key
        finally:
            await store.db.disconnect()

    return asyncio.run(add())


@pytest.fixture(scope="module")
def node(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    directory = tmp_path_factory.mktemp("bounds")
    source_key = add_source(module_database_url)
    with KeyServer() as keys:
        env = base_env(
            module_database_url,
            keys,
            ADDON_BASE_URL=PUBLIC_URL,
            REJECTED_LOG_LIMIT="1000",
            REJECTED_LOG_MAX_BYTES=str(REJECTED_MAX_BYTES),
            INSPECTOR_USERNAME=INSPECTOR[0],
            INSPECTOR_PASSWORD=INSPECTOR[1],
        )
        with LiveServer(env, log_dir=directory) as server:
            yield Node(server, Jira(keys, PUBLIC_URL), module_database_url, source_key)
        assert_no_server_errors(server.log())


def installed(node: Node) -> SimulatedSite:
    site = node.jira.site()
    assert node.jira.install(node.server.url, site).status_code == 204
    return site


def signed_webhook(node: Node, site: SimulatedSite, key: str, identifier: str) -> httpx.Response:
    target, body, headers = node.jira.webhook_request(site, key, identifier)
    return httpx.post(node.server.url + target, content=body, headers=headers, timeout=30)


def settled(database_url: str) -> None:
    """Wait until the writer has written what it was given (rejections follow the answer)."""

    def still() -> bool:
        first = scalar(database_url, "SELECT MAX(id) FROM deliveries")
        time.sleep(0.3)
        return bool(first == scalar(database_url, "SELECT MAX(id) FROM deliveries"))

    until(still, timeout=15, interval=0)


# --- one writer never fails everyone --------------------------------------------------------


def test_oversized_values_cost_only_their_own_delivery(node: Node) -> None:
    """A 4,000-character webhook identifier is refused with 400; a 4,000-character issue key in
    a signed payload is stored, unindexed; meanwhile every delivery of another tenant is 204."""
    hostile, other = installed(node), installed(node)

    def long_identifier(n: int) -> httpx.Response:
        return signed_webhook(node, hostile, "BIG-1", secrets.token_urlsafe(3_000) + str(n))

    def long_key(n: int) -> httpx.Response:
        return signed_webhook(node, hostile, secrets.token_urlsafe(3_000), f"long-key-{n}")

    def beside(n: int) -> int:
        return signed_webhook(node, other, "OTHER-1", f"beside-{n}").status_code

    with ThreadPoolExecutor(12) as pool:
        identifiers = [pool.submit(long_identifier, n) for n in range(20)]
        keys = [pool.submit(long_key, n) for n in range(20)]
        others = [pool.submit(beside, n) for n in range(200)]
        assert [future.result() for future in others] == [204] * 200
        for future in identifiers:
            refusal = assert_json_refusal(future.result(), 400)
            assert refusal["error"] == "value_too_long", refusal
            assert "X-Atlassian-Webhook-Identifier" in refusal["reason"], refusal
        assert [future.result().status_code for future in keys] == [204] * 20

    rows = query(
        node.database_url,
        "SELECT status, issue_key FROM deliveries WHERE webhook_id LIKE 'long-key-%'",
    )
    assert len(rows) == 20 and {row["status"] for row in rows} == {"accepted"}
    assert {len(row["issue_key"]) for row in rows} == {4_000}
    assert (
        scalar(
            node.database_url, "SELECT COUNT(*) FROM delivery_keys WHERE LENGTH(search_key) > 255"
        )
        == 0
    )
    assert_no_server_errors(node.server.log())


def test_a_long_client_key_or_event_name_is_refused_with_a_reason(node: Node) -> None:
    site = dataclasses.replace(node.jira.site(), client_key="c" * 300)
    refusal = assert_json_refusal(node.jira.install(node.server.url, site), 400)
    assert refusal["error"] == "value_too_long" and "clientKey" in refusal["reason"], refusal

    answer = httpx.post(
        f"{node.server.url}/webhooks/jira/sources/{node.source_key}",
        content=json.dumps({"webhookEvent": "jira:" + "é" * 200, "issue": {"key": "DC-1"}}),
        headers={"Authorization": f"Bearer {SOURCE_SECRET}", "Content-Type": "application/json"},
        timeout=10,
    )
    refusal = assert_json_refusal(answer, 400)
    assert refusal["error"] == "value_too_long" and "webhookEvent" in refusal["reason"], refusal

    answer = httpx.post(
        f"{node.server.url}/webhooks/jira/sources/{node.source_key}",
        content=json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "DC-1"}}),
        headers={
            "Authorization": f"Bearer {SOURCE_SECRET}",
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": "i" * 4_000,
        },
        timeout=10,
    )
    refusal = assert_json_refusal(answer, 400)
    assert refusal["error"] == "value_too_long", refusal


# --- unauthenticated requests cost bounded space --------------------------------------------


def test_a_flood_of_big_headers_stores_at_most_the_bound(node: Node) -> None:
    flood = [(b"X-Flood-%d" % i, b"v" * 2_000) for i in range(1_000)]
    for n in range(12):
        response = raw_request(
            node.server.port,
            b"POST",
            b"/webhooks/jira/issue-updated?issueKey=FLOOD-1&" + b"q" * 8_000,
            [*flood, (b"X-Atlassian-Webhook-Identifier", b"flood-%d" % n)],
            b'{"x": "' + b"b" * 60_000 + b'"}',
            timeout=30,
        )
        assert response.status == 401, response
    settled(node.database_url)
    rows = query(node.database_url, "SELECT * FROM deliveries WHERE status = 'rejected'")
    sizes = [
        sum(
            len(v) if isinstance(v, bytes) else len(v.encode("utf-8"))
            for v in row.values()
            if isinstance(v, str | bytes)
        )
        for row in rows
    ]
    assert rows and max(sizes) <= RECORD_BYTES, max(sizes)
    assert sum(sizes) <= REJECTED_MAX_BYTES + REJECTED_MAX_BYTES // 10 + RECORD_BYTES, sum(sizes)
    newest = max(rows, key=lambda row: int(row["id"]))
    assert newest["webhook_id"] == "flood-11"
    kept = json.loads(newest["headers"])
    assert 0 < sum(name.startswith("x-flood-") for name in kept) < 1_000


# --- a NUL is a bad request, not a database failure -------------------------------------------


def test_a_nul_in_a_source_key_or_an_inspector_filter_is_not_a_database_failure(
    node: Node,
) -> None:
    answer = raw_request(node.server.port, b"POST", b"/webhooks/jira/sources/ab%00cd", [], b"{}")
    assert answer.status == 404, answer
    for path in ("/inspector/", "/inspector/api/deliveries", "/inspector/api/stream"):
        for name in ("event", "q", "client_key", "source"):
            answer = httpx.get(f"{node.server.url}{path}?{name}=a%00b", auth=INSPECTOR, timeout=10)
            assert answer.status_code == 400, (path, name, answer.status_code, answer.text[:300])


# --- database failures: a generic answer, the detail in the log -------------------------------


GENERIC = "the database is unavailable; try again later"


def healthz(server: LiveServer) -> httpx.Response:
    return httpx.get(f"{server.url}/healthz", timeout=30)


def assert_generic(response: httpx.Response, *hidden: str) -> None:
    refusal = assert_json_refusal(response, 503)
    assert refusal == {"error": "store_unavailable", "reason": GENERIC}, refusal
    for word in hidden:
        assert word.lower() not in response.text.lower(), response.text


def test_postgres_that_cannot_write_is_unhealthy_and_its_errors_stay_in_the_log(
    postgres_url: str, tmp_path: Path
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    with KeyServer() as keys:
        env = base_env(postgres_url, keys, ADDON_BASE_URL=PUBLIC_URL)
        jira = Jira(keys, PUBLIC_URL)
        with LiveServer(env, log_dir=tmp_path) as server:
            site = jira.site()
            assert jira.install(server.url, site).status_code == 204
            assert healthz(server).status_code == 200
            query(
                POSTGRES_ADMIN_URL,
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = on',
            )
            try:
                terminate_backends(postgres_url)
                until(lambda: healthz(server).status_code == 503, timeout=30, what="unhealthy")
                health = healthz(server).json()
                assert health == {"status": "unavailable", "reason": GENERIC}, health
                answer = until(
                    lambda: (r := jira.webhook(server.url, site)).status_code == 503 and r,
                    timeout=30,
                    what="a refused delivery",
                )
                assert_generic(answer, "read-only", "ReadOnlySQL", "deliveries")
                assert "read-only transaction" in server.log()  # the detail, for the operator
            finally:
                query(
                    POSTGRES_ADMIN_URL,
                    f'ALTER DATABASE "{name}" SET default_transaction_read_only = off',
                )
                terminate_backends(postgres_url)
            until(lambda: healthz(server).status_code == 200, timeout=30, what="healthy again")
            assert jira.webhook(server.url, site).status_code == 204


def test_sqlite_that_cannot_write_is_unhealthy_and_its_errors_stay_in_the_log(
    tmp_path: Path,
) -> None:
    """Another process holds the file's write lock past the busy timeout: reads still work, so a
    read says nothing; the health check's write does."""
    path = tmp_path / "addon.db"
    with KeyServer() as keys:
        env = base_env(f"sqlite:///{path}", keys, ADDON_BASE_URL=PUBLIC_URL)
        jira = Jira(keys, PUBLIC_URL)
        with LiveServer(env, log_dir=tmp_path) as server:
            site = jira.site()
            assert jira.install(server.url, site).status_code == 204
            assert healthz(server).status_code == 200
            holder = sqlite3.connect(path, timeout=1, isolation_level=None)
            try:
                holder.execute("BEGIN EXCLUSIVE")
                holder.execute("INSERT INTO health (id, checked_at) VALUES (2, 0)")
                health = healthz(server)
                assert health.status_code == 503, health.text
                assert health.json() == {"status": "unavailable", "reason": GENERIC}
                answer = jira.webhook(server.url, site, timeout=30)
                assert_generic(answer, "locked", "OperationalError", "sqlite")
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert "database is locked" in server.log()
            assert healthz(server).status_code == 200
            assert jira.webhook(server.url, site).status_code == 204
