"""A door's background jobs: run at one instance at a time, a failure logged and run again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from addon.doors import Job
from addon.jobs import JobRunner
from addon.store import open_store


def test_a_job_runs_at_the_instance_holding_its_lease_and_survives_its_failure(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[str] = []

    async def failing() -> None:
        runs.append("failing")
        raise RuntimeError("the token endpoint is away")

    async def go() -> None:
        first, second = await open_store(database_url), await open_store(database_url)
        try:
            jobs = [Job("refresh", 60, failing)]
            here, there = (
                JobRunner(first, jobs, owner="here"),
                JobRunner(second, jobs, owner="there"),
            )
            assert await here.run_once(jobs[0])
            assert not await there.run_once(jobs[0])
            assert await here.run_once(jobs[0])
            await here.stop()  # gives the lease back
            assert await there.run_once(jobs[0])
        finally:
            await first.db.disconnect()
            await second.db.disconnect()

    with caplog.at_level(logging.ERROR, logger="addon.jobs"):
        asyncio.run(go())
    assert runs == ["failing"] * 3
    assert "job refresh failed" in caplog.text and "the token endpoint is away" in caplog.text


def test_started_jobs_run_until_stopped(database_url: str) -> None:
    ran = asyncio.Event()

    async def go() -> None:
        store = await open_store(database_url)
        try:

            async def note() -> None:
                ran.set()

            runner = JobRunner(store, [Job("keep-alive", 3600, note)])
            await runner.start()
            await asyncio.wait_for(ran.wait(), timeout=10)
            await runner.stop()
            assert runner._tasks == []
        finally:
            await store.db.disconnect()

    asyncio.run(go())
