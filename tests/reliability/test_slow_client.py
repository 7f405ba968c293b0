"""Slow and greedy clients: a declared Content-Length above MAX_BODY_BYTES is refused at once,
without the body being read; bodies that trickle in (chunked) are cut off at the limit, so that
twenty of them at once, each trying to send 50 MB, cost the server little memory."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from addon.simulator import SimulatedSite
from tests.auth.keyserver import KeyServer
from tests.reliability.support import (
    Jira,
    assert_no_server_errors,
    base_env,
    parse_response,
    scalar,
    server_pid,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://addon.slow.test"
MAX_BODY = 1024 * 1024
TARGET = "/webhooks/jira/issue-updated?issueKey=SLOW-1"
CLIENTS = 20
EACH_TRIES = 50 * 1024 * 1024
CHUNK = 16 * 1024


@dataclass
class Slow:
    server: LiveServer
    site: SimulatedSite
    database_url: str


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slow]:
    directory = tmp_path_factory.mktemp("slow")
    database_url = f"sqlite:///{directory}/addon.db"
    with KeyServer() as keys:
        env = base_env(database_url, keys, ADDON_BASE_URL=PUBLIC_URL, MAX_BODY_BYTES=str(MAX_BODY))
        jira = Jira(keys, PUBLIC_URL)
        with LiveServer(env, log_dir=directory) as server:
            site = jira.site()
            assert jira.install(server.url, site).status_code == 204
            yield Slow(server, site, database_url)
        assert_no_server_errors(server.log())


def head(slow: Slow, path: str, *extra: str) -> bytes:
    token = slow.site.token(addon_base_url=PUBLIC_URL, target=path)
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: close",
        f"Authorization: JWT {token}",
        "Content-Type: application/json",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket, timeout: float) -> bytes:
    """One answer: until its Content-Length is in, or the server closes (Connection: close)."""
    sock.settimeout(timeout)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while True:
            header, separator, body = received.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", header)
            if separator and length and len(body) >= int(length.group(1)):
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.mark.parametrize("path", [TARGET, "/installed", "/enabled"])
@pytest.mark.parametrize("declared", [MAX_BODY + 1, 50 * 1024 * 1024, 10**18])
def test_declared_length_over_the_limit_is_refused_at_once(
    slow: Slow, path: str, declared: int
) -> None:
    with socket.create_connection(("127.0.0.1", slow.server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(head(slow, path, f"Content-Length: {declared}"))  # headers only, no body
        answer = read_answer(sock, timeout=5)
        elapsed = time.monotonic() - started
    response = parse_response(answer)
    assert response.status == 413, answer[:300]
    assert response.json()["error"] == "payload_too_large"
    assert str(MAX_BODY) in response.json()["reason"]
    assert elapsed < 2, f"{elapsed:.2f}s: the server waited for a body it must not read"


@dataclass
class Trickle:
    sent: int = 0
    answer: bytes = b""


def trickle(slow: Slow, outcome: Trickle) -> None:
    """Send a chunked body of up to 50 MB, a little at a time, until the server answers."""
    sent = 0
    with socket.create_connection(("127.0.0.1", slow.server.port), timeout=30) as sock:
        sock.sendall(head(slow, TARGET, "Transfer-Encoding: chunked"))
        piece = b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK)
        while sent < EACH_TRIES:
            if select.select([sock], [], [], 0)[0]:
                break  # an answer (or a close) came before the body ended
            try:
                sock.sendall(piece)
            except OSError:
                break
            sent += CHUNK
            time.sleep(0.01)
        outcome.sent = sent
        outcome.answer = read_answer(sock, timeout=10)


def test_trickling_bodies_hold_no_more_than_the_limit(slow: Slow) -> None:
    pid = server_pid(slow.server)
    baseline = rss_kib(pid)
    peak = baseline
    outcomes = [Trickle() for _ in range(CLIENTS)]
    threads = [threading.Thread(target=trickle, args=(slow, o)) for o in outcomes]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss_kib(pid))
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    growth_mib = (peak - baseline) / 1024
    for outcome in outcomes:
        response = parse_response(outcome.answer)
        assert response.status == 413, outcome.answer
        assert response.json()["error"] == "payload_too_large"
        # Cut off near the limit: far from the 50 MB each one tried to send.
        assert outcome.sent < 8 * MAX_BODY, outcome.sent
    assert growth_mib < 64, f"RSS grew {growth_mib:.0f} MiB for {CLIENTS} clients"
    # The server is fine afterwards, and stored nothing but rejection records.
    with socket.create_connection(("127.0.0.1", slow.server.port), timeout=5) as sock:
        sock.sendall(head(slow, TARGET, "Content-Length: 2") + b"{}")
        assert parse_response(read_answer(sock, timeout=5)).status == 204
    stored = scalar(slow.database_url, "SELECT COUNT(*) FROM deliveries WHERE status <> 'rejected'")
    assert stored == 1, stored
