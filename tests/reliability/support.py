"""Helpers for the reliability tests: signed requests, the probe log, direct database reads,
several server processes started at once, and a TCP proxy that can cut a database away."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from addon.simulator import SimulatedSite
from tests.auth.keyserver import KeyServer
from tests.support.connect import ADDON_KEY
from tests.support.live import LiveServer

T = TypeVar("T")

PROBE_HANDLERS = "tests.reliability.handlers_probe:handlers"
ISSUE_UPDATED = "/webhooks/jira/issue-updated?issueKey={key}&issueId=1&projectKey=REL&projectId=1"


def until(
    condition: Callable[[], T], *, timeout: float, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {what or condition}")
        time.sleep(interval)


# --- Jira's side ------------------------------------------------------------------------------


@dataclass
class Jira:
    """Jira toward a cluster: signs for `public_url` (the add-on's baseUrl), sends to any node."""

    keys: KeyServer
    public_url: str

    def site(self) -> SimulatedSite:
        site = SimulatedSite.generate()
        self.keys.keys[site.kid] = site.public_key_pem
        return site

    def install(
        self, node_url: str, site: SimulatedSite, *, now: float | None = None
    ) -> httpx.Response:
        token = site.install_token(addon_base_url=self.public_url, target="/installed", now=now)
        return httpx.post(
            node_url + "/installed",
            content=json.dumps(site.lifecycle_payload("installed", ADDON_KEY)),
            headers={"Content-Type": "application/json", "Authorization": f"JWT {token}"},
            timeout=10,
        )

    def webhook_request(
        self,
        site: SimulatedSite,
        key: str,
        identifier: str | None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[str, bytes, dict[str, str]]:
        """The target, body and headers of a signed jira:issue_updated webhook."""
        target = ISSUE_UPDATED.format(key=key)
        token = site.token(addon_base_url=self.public_url, target=target)
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"JWT {token}",
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if identifier is not None:
            headers["X-Atlassian-Webhook-Identifier"] = identifier
        payload = {"webhookEvent": "jira:issue_updated", "issue": {"key": key}, **(extra or {})}
        body = json.dumps(payload).encode()
        return target, body, headers

    def webhook(
        self,
        node_url: str,
        site: SimulatedSite,
        identifier: str | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        extra: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        identifier = identifier or f"wh-{uuid.uuid4()}"
        target, body, headers = self.webhook_request(site, "REL-1", identifier, extra)
        if client is None:
            return httpx.post(node_url + target, content=body, headers=headers, timeout=timeout)
        return client.post(node_url + target, content=body, headers=headers, timeout=timeout)


def assert_json_refusal(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A refusal in the add-on's JSON shape, with one of `statuses`."""
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("reason"), str) and body["reason"], body
    return body


def assert_no_server_errors(log: str) -> None:
    """Nothing failed unexpectedly in the server (library warnings with tracebacks are fine)."""
    for marker in ("Exception in ASGI application", "unexpected error", "Task exception"):
        assert marker not in log, log[-20_000:]


# --- Servers ----------------------------------------------------------------------------------


def start_together(servers: Sequence[LiveServer], *, timeout: float = 30.0) -> None:
    """Start every server at the same moment (a barrier), and wait until each answers /healthz."""
    barrier = threading.Barrier(len(servers))
    errors: list[BaseException] = []

    def start(server: LiveServer) -> None:
        try:
            barrier.wait(10)
            server.start(timeout=timeout)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for server in servers:
            server.stop()
        raise errors[0]


def server_pid(server: LiveServer) -> int:
    assert server.process is not None
    return server.process.pid


def base_env(database_url: str, keys: KeyServer, **extra: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "ADDON_KEY": ADDON_KEY,
        "CONNECT_INSTALL_KEYS_URL": keys.url,
    }
    env.update(extra)
    return env


# --- The probe log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of the probe handler: `end` is None if the process died during it."""

    delivery_id: int
    pid: int
    start: float
    end: float | None
    webhook_id: str


def read_runs(path: Path) -> list[Run]:
    """The probe's runs, pairing each start with the next end of the same delivery and process."""
    if not path.exists():
        return []
    open_runs: dict[tuple[int, int], tuple[float, str]] = {}
    runs: list[Run] = []
    for line in path.read_text().splitlines():
        kind, delivery, pid, at, webhook_id = line.split(" ")
        key = (int(delivery), int(pid))
        if kind == "start":
            assert key not in open_runs, f"delivery {delivery} started twice at once in pid {pid}"
            open_runs[key] = (float(at), webhook_id)
        else:
            started, _ = open_runs.pop(key)
            runs.append(Run(key[0], key[1], started, float(at), webhook_id))
    runs.extend(Run(k[0], k[1], s, None, w) for k, (s, w) in open_runs.items())
    return sorted(runs, key=lambda run: run.start)


def assert_never_concurrent(runs: Sequence[Run], *, killed: Mapping[int, float]) -> None:
    """No two runs of one delivery overlap in time; a run cut by a kill ends at the kill."""
    by_delivery: dict[int, list[Run]] = {}
    for run in runs:
        by_delivery.setdefault(run.delivery_id, []).append(run)
    for delivery_id, its_runs in by_delivery.items():
        spans = []
        for run in its_runs:
            end = run.end if run.end is not None else killed.get(run.pid)
            assert end is not None, f"run of {delivery_id} in live pid {run.pid} never ended"
            spans.append((run.start, end, run.pid))
        spans.sort()
        for (_, end, pid), (start, _, other) in itertools.pairwise(spans):
            assert start >= end, (
                f"delivery {delivery_id}: a run in pid {other} started at {start:.3f}, "
                f"before the run in pid {pid} ended at {end:.3f}"
            )


# --- Reading the database directly --------------------------------------------------------------


def query(database_url: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run one statement on the database behind `database_url` (`?` placeholders)."""
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
        connection.row_factory = sqlite3.Row
        try:
            with connection:
                return [dict(row) for row in connection.execute(sql, tuple(params)).fetchall()]
        finally:
            connection.close()

    import asyncpg

    numbered = iter(range(1, 1000))
    pg_sql = "".join(f"${next(numbered)}" if char == "?" else char for char in sql)

    async def run() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(database_url, timeout=10)
        try:
            return [dict(row) for row in await connection.fetch(pg_sql, *params)]
        finally:
            await connection.close()

    return asyncio.run(run())


def scalar(database_url: str, sql: str, params: Sequence[Any] = ()) -> Any:
    rows = query(database_url, sql, params)
    return next(iter(rows[0].values())) if rows else None


def accepted_by_identifier(database_url: str, identifiers: Sequence[str]) -> dict[str, list[int]]:
    """The ids of the accepted deliveries of each webhook identifier."""
    found: dict[str, list[int]] = {identifier: [] for identifier in identifiers}
    rows = query(
        database_url,
        "SELECT id, webhook_id FROM deliveries "
        "WHERE status = 'accepted' AND webhook_id IS NOT NULL",
    )
    for row in rows:
        if row["webhook_id"] in found:
            found[row["webhook_id"]].append(int(row["id"]))
    return found


def terminate_backends(database_url: str) -> int:
    """pg_terminate_backend on every connection to this test's own database except ours."""
    name = database_url.rsplit("/", 1)[1]
    rows = query(
        database_url,
        "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity "
        "WHERE datname = ? AND pid <> pg_backend_pid()",
        (name,),
    )
    return sum(1 for row in rows if row["done"])


# --- A loopback TCP proxy that can cut the database away ------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`; `cut()` resets every connection and refuses new
    ones (accepted and reset at once) until `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._down = False
        self._closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._reset_all()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)

    def cut(self) -> None:
        self._down = True
        self._reset_all()

    def restore(self) -> None:
        self._down = False

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _reset_all(self) -> None:
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            self._reset(sock)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down or self._closing:
                self._reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._reset(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            source.close()


# --- A raw HTTP/1.1 client: any bytes in the request line, headers and body ------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


UVICORN_REFUSAL = b"Invalid HTTP request received."


def raw_request(
    port: int,
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    *,
    content_length: bool = True,
    chunks: Sequence[bytes] | None = None,
    timeout: float = 10.0,
) -> RawResponse:
    """Send one request exactly as given (Connection: close) and read the whole answer.

    A socket timeout (no answer) raises: the server must never hang. With `chunks`, the body
    is sent chunked; otherwise `body` with a Content-Length unless `content_length` is False.
    """
    head = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    head.extend(name + b": " + value for name, value in headers)
    if chunks is not None:
        head.append(b"Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    else:
        if content_length:
            head.append(b"Content-Length: %d" % len(body))
        payload = body
    data = b"\r\n".join(head) + b"\r\n\r\n" + payload
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # an early answer may close while we still send
            sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if time.monotonic() > deadline:
                raise TimeoutError("the answer did not end")
    return parse_response(received)


def parse_response(received: bytes) -> RawResponse:
    head, separator, body = received.partition(b"\r\n\r\n")
    assert separator, f"no complete answer: {received[:300]!r}"
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return RawResponse(status, headers, body)
