"""ADDON_WORKER=external: the server only stores; `addon worker` runs the handlers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from addon.store import HandlerState
from tests.auth.keyserver import KeyServer
from tests.support.connect import ADDON_KEY, Jira, read_deliveries
from tests.support.live import ROOT, LiveServer


def test_addon_worker_runs_what_the_server_stored(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/external.db"
    probe = tmp_path / "probe.log"
    env = {
        "DATABASE_URL": database,
        "ADDON_KEY": ADDON_KEY,
        "ADDON_HANDLERS": "tests.reliability.handlers_probe:handlers",
        "ADDON_WORKER": "external",
        "PROBE_LOG": str(probe),
    }
    with KeyServer() as keys:
        env["CONNECT_INSTALL_KEYS_URL"] = keys.url
        with LiveServer(env, log_dir=tmp_path) as server:
            jira = Jira(server=server, keys=keys, database_url=database)
            site = jira.install()
            for index in range(3):
                response = jira.webhook(
                    site, f"/webhooks/jira/issue-updated?issueKey=EXT-{index}", {"a": index}
                )
                assert response.status_code == 204, response.text
            time.sleep(1.5)
            assert {d.handler_state for d in read_deliveries(database)} == {HandlerState.PENDING}
            worker_env = {**os.environ, **server.env}
            worker = subprocess.Popen(
                [sys.executable, "-m", "addon", "worker"],
                env=worker_env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 20
                while {d.handler_state for d in read_deliveries(database)} != {HandlerState.DONE}:
                    assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
                    assert time.monotonic() < deadline, "addon worker did not run the handlers"
                    time.sleep(0.1)
            finally:
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(15) == 0
