"""Crash safety, on SQLite and PostgreSQL: signed webhooks under concurrency, SIGKILL mid-load,
restart on the same database. Every 2xx is in the log exactly once, and its handler completes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from addon.simulator import SimulatedSite
from tests.auth.keyserver import KeyServer
from tests.reliability.support import (
    PROBE_HANDLERS,
    Jira,
    accepted_by_identifier,
    assert_never_concurrent,
    base_env,
    query,
    read_runs,
    scalar,
    server_pid,
    until,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://addon.crash.test"
SENDERS = 16
KILL_AFTER = 300  # 2xx answers before the kill


class Load:
    """`SENDERS` threads posting signed webhooks with unique identifiers until told to stop."""

    def __init__(self, jira: Jira, node_url: str, site: SimulatedSite) -> None:
        self.jira, self.node_url, self.site = jira, node_url, site
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: dict[str, int] = {}  # identifier -> status
        self.unanswered: list[str] = []  # sent, but no answer
        self.interrupted = 0  # of those, cut off by the kill (not refused at connect)
        self.threads = [
            threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(SENDERS)
        ]

    def _send(self, sender: int) -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self.stop.is_set():
                identifier = f"crash-{sender}-{n}"
                n += 1
                try:
                    response = self.jira.webhook(
                        self.node_url, self.site, identifier, client=client
                    )
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.unanswered.append(identifier)
                        self.interrupted += not isinstance(exc, httpx.ConnectError)
                    continue
                with self.lock:
                    self.answers[identifier] = response.status_code

    def ok(self) -> list[str]:
        with self.lock:
            return [i for i, status in self.answers.items() if 200 <= status < 300]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


def test_sigkill_mid_load_loses_no_acknowledged_delivery(database_url: str, tmp_path: Path) -> None:
    probe = tmp_path / "probe.log"
    with KeyServer() as keys:
        env = base_env(
            database_url,
            keys,
            ADDON_BASE_URL=PUBLIC_URL,
            ADDON_HANDLERS=PROBE_HANDLERS,
            PROBE_LOG=str(probe),
            PROBE_SLEEP="0.02",
            HANDLER_LEASE_SECONDS="2",
            HANDLER_CONCURRENCY="8",
        )
        jira = Jira(keys, PUBLIC_URL)
        first = LiveServer(env, log_dir=tmp_path).start()
        try:
            site = jira.site()
            assert jira.install(first.url, site).status_code == 204
            with Load(jira, first.url, site) as load:
                until(lambda: len(load.ok()) >= KILL_AFTER, timeout=30, what="load acknowledged")
                first.kill()
                killed_at = time.time()
            killed_pid = server_pid(first)
        finally:
            first.kill()
        acknowledged = load.ok()
        assert set(load.answers.values()) == {204}, Counter(load.answers.values())
        assert load.interrupted, "the kill interrupted no request in flight"

        with LiveServer(env, log_dir=tmp_path) as second:
            stored = accepted_by_identifier(database_url, [*load.answers, *load.unanswered])
            lost = [i for i in acknowledged if len(stored[i]) != 1]
            assert not lost, f"acknowledged but not stored exactly once: {lost[:10]}"
            assert all(len(ids) <= 1 for ids in stored.values())
            # Jira retries what got no answer: each is stored now, once, or recorded a duplicate.
            with httpx.Client(timeout=10) as client:
                for identifier in load.unanswered:
                    retry = jira.webhook(second.url, site, identifier, client=client)
                    assert retry.status_code == 204, retry.text
            stored = accepted_by_identifier(database_url, [*load.answers, *load.unanswered])
            assert all(len(ids) == 1 for ids in stored.values())

            def handled() -> bool:
                pending = scalar(
                    database_url,
                    "SELECT COUNT(*) FROM deliveries "
                    "WHERE status = 'accepted' AND handler_state <> 'done'",
                )
                return int(pending) == 0

            # A backlog drains at the handlers' pace, not one batch per poll interval.
            until(handled, timeout=15, interval=0.2, what="every handler done after the restart")
            accepted_ids = {
                int(row["id"])
                for row in query(
                    database_url, "SELECT id FROM deliveries WHERE status = 'accepted'"
                )
            }
            runs = read_runs(probe)
            completed = {run.delivery_id for run in runs if run.end is not None}
            assert completed >= accepted_ids, sorted(accepted_ids - completed)[:10]
            assert_never_concurrent(runs, killed={killed_pid: killed_at})
            assert any(run.pid == server_pid(second) for run in runs), "no work after the restart"
        assert "Traceback" not in second.log(), second.log()
