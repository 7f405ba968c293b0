"""The outbox across restarts and crashes, with the fake Jira on a loopback port."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from addon.sync import LEASE_SECONDS, Change, OutboxState, backoff
from tests.support.live import ROOT
from tests.sync.support import Clock, adapter_for, running_jira, sync_parts


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n) for n in (0, 1, 2, 3)] == [2.0, 2.0, 4.0, 8.0]
    assert backoff(40) == 3600.0


def test_a_queued_change_survives_a_restart(database_url: str) -> None:
    clock = Clock()
    with running_jira(clock) as (fake, url):
        site = fake.add_site("acme")

        async def before() -> None:
            async with sync_parts(database_url, fake, url, clock) as sync:
                await sync.store.add_adapter(adapter_for(site.url), now=clock.at)
                await sync.store.enqueue("tickets", "i-1", Change(title="Queued"), now=clock.at)

        async def after() -> None:
            async with sync_parts(database_url, fake, url, clock, owner="instance-2") as sync:
                entry = await sync.runner.run_once()
                assert entry is not None and entry.state is OutboxState.DONE
                assert await sync.runner.run_due() == 0

        asyncio.run(before())
        assert site.issues == {}
        asyncio.run(after())
        assert [i["fields"]["summary"] for i in site.issues.values()] == ["Queued"]


def test_a_process_killed_after_the_create_leaves_one_issue(database_url: str) -> None:
    clock = Clock()
    with running_jira(clock) as (fake, url):
        site = fake.add_site("acme")

        async def prepare() -> None:
            async with sync_parts(database_url, fake, url, clock) as sync:
                await sync.store.add_adapter(adapter_for(site.url), now=clock.at)
                await sync.store.enqueue("tickets", "i-1", Change(title="Once"), now=clock.at)

        asyncio.run(prepare())
        killed = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.sync.crash_after_create",
                database_url,
                f"{url}/ex/jira/{site.cloud_id}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert killed.returncode == 9, killed.stderr
        assert len(site.issues) == 1

        async def resume() -> None:
            async with sync_parts(database_url, fake, url, clock, owner="instance-2") as sync:
                assert await sync.runner.run_once() is None  # the dead one's lease still holds
                clock.at = time.time() + LEASE_SECONDS + 1
                entry = await sync.runner.run_once()
                assert entry is not None and entry.state is OutboxState.DONE
                assert entry.attempts == 2
                link = await sync.store.link("tickets", "i-1")
                assert link is not None and link.issue_id in site.issues

        asyncio.run(resume())
        assert len(site.issues) == 1
