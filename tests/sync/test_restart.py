"""The add-on process killed (SIGKILL) after Jira created the issue and before it heard so: the
next process resumes the outbox entry, finds the issue by its label, and creates no second one.
SQLite and PostgreSQL, the real `addon serve`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from addon.settings import Settings
from addon.simulator import FakeJiraWork
from addon.sync import OutboxState, SyncStore, sync_label
from addon.web._sync import MAX_BODY
from tests.support.live import LiveServer
from tests.support.loopback import LoopbackServer
from tests.sync.app_support import ADAPTER, API_TOKEN, prepare, read


def test_killed_after_create_resumes_without_a_second_issue(
    database_url: str, tmp_path: Path
) -> None:
    fake = FakeJiraWork()
    site = fake.add_site("acme")
    root = fake.site_root(site.cloud_id)
    doomed: list[LiveServer] = []
    kill = threading.Event()

    async def jira(scope: Scope, receive: Receive, send: Send) -> None:
        creating = scope["type"] == "http" and (scope["method"], scope["path"]) == (
            "POST",
            "/rest/api/3/issue",
        )
        if creating and kill.is_set():
            kill.clear()

            async def swallow(message: object) -> None:
                return None

            await root(scope, receive, swallow)  # Jira creates the issue...
            doomed[0].kill()  # ...and the add-on dies before it hears so
            return
        await root(scope, receive, send)

    with LoopbackServer(jira) as server:
        site.url = server.url
        prepare(database_url, server.url, Settings(database_url=database_url))
        env = {
            "DATABASE_URL": database_url,
            "INSPECTOR_API_TOKEN": API_TOKEN,
            "SYNC_LEASE_SECONDS": "2",
            "SYNC_SEARCH_LAG_SECONDS": "30",
        }
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        label = sync_label(ADAPTER, "K-1")
        first = LiveServer(env, log_dir=tmp_path).start()
        doomed.append(first)
        try:
            kill.set()
            with pytest.raises(httpx.HTTPError):
                httpx.post(
                    f"{first.url}/sync/{ADAPTER}/items/K-1",
                    json={"title": "Survive me", "status": "In Progress"},
                    headers=headers,
                    timeout=20,
                )
            assert first.process is not None and first.process.wait(10) == -9
        finally:
            first.stop()
        [issue] = fake.issues_labelled(site.cloud_id, label)
        link = read(database_url, lambda store: SyncStore(store.db).link(ADAPTER, "K-1"))
        assert link.issue_id is None and link.creating_since is not None

        with LiveServer(env, log_dir=tmp_path) as second:

            def resumed() -> object:
                found = read(database_url, lambda store: SyncStore(store.db).link(ADAPTER, "K-1"))
                return found.issue_key if found.local_status == "In Progress" else None

            key = None
            end = time.monotonic() + 30
            while key is None and time.monotonic() < end:
                key = resumed()
                time.sleep(0.1)
            assert key == issue["key"], second.log()
            assert len(fake.issues_labelled(site.cloud_id, label)) == 1
            assert issue["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
            entries = read(database_url, lambda store: SyncStore(store.db).entries())
            assert [e.state for e in entries] == [OutboxState.DONE]

            answer = httpx.post(
                f"{second.url}/sync/{ADAPTER}/items/K-1",
                json={"title": "Survived"},
                headers=headers,
                timeout=20,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["link"]["issue_key"] == issue["key"]
            assert issue["fields"]["summary"] == "Survived"
            assert len(fake.issues_labelled(site.cloud_id, label)) == 1
            too_big = httpx.post(
                f"{second.url}/sync/{ADAPTER}/items/K-1",
                content=b"x" * (MAX_BODY + 1),
                headers=headers,
                timeout=20,
            )
            assert too_big.status_code == 413
