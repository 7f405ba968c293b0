"""Where a catch-up starts is kept in the database: another app instance on the same database (a
fresh one, or the one holding the job lease next) catches up from it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from addon.sites import CATCH_UP_EVENT
from addon.sites._points import SecondPass
from tests.sites.flow import flow_settings, serving
from tests.sites.support import running_fake


def test_another_instance_catches_up_from_the_stored_points(database_url: str) -> None:
    with running_fake() as (fake, fake_url):
        settings = flow_settings(database_url, fake_url)

        async def scenario() -> None:
            async with serving(settings, fake, clock=False) as one:
                site = await one.connect()
                [hook] = fake.webhooks(site.cloud_id)
                await asyncio.sleep(0.05)
                fake.touch_issue(site.cloud_id, "DEV-1", "while the webhooks delivered")
                await asyncio.sleep(0.05)
                [outcome] = await one.door.work.upkeep()  # the webhooks are seen alive
                assert outcome.report is not None and not outcome.report.forgotten
                alive = await one.door.work.points.alive_at(site.cloud_id)
                assert alive is not None and alive > site.connected_at
                fake.forget_webhook(site.cloud_id, hook.id)
                await asyncio.sleep(0.05)
                fake.touch_issue(site.cloud_id, "DEV-2", "while nothing was delivered")

            # A fresh instance: its webhook job (which it runs at start, the lease being free)
            # registers again and catches up from when the first instance saw the webhooks alive.
            async with serving(settings, fake, clock=False) as two:
                [caught] = await two.rows(1, event=CATCH_UP_EVENT)
                assert caught.issue_key == "DEV-2"
                # Handlers subscribe to catch-up:issue like any event, and call Jira back.
                handled = await two.seen(1)
                assert [h["event"] for h in handled] == [CATCH_UP_EVENT]
                assert handled[0]["status"] == 200
                assert caught.verification is not None
                assert (
                    caught.verification["since"] == datetime.fromtimestamp(alive, UTC).isoformat()
                )
                assert [h.id for h in fake.webhooks(site.cloud_id)] != [hook.id]
                await asyncio.sleep(0.3)
                assert len(await two.rows(2, timeout=0.2, event=CATCH_UP_EVENT)) == 1
                [pending] = await two.door.work.points.due(now=time.time() + 61)
                assert pending.cloud_id == site.cloud_id and pending.since == alive

            fake.touch_issue(site.cloud_id, "DEV-3", "found only by the second search")
            # A third instance runs the heartbeat a minute later: the second pass, once.
            async with serving(settings, fake, clock=False) as three:
                three.door.clock = lambda: time.time() + 61
                await three.door.work.heartbeat()
                rows = await three.rows(2, event=CATCH_UP_EVENT)
                assert [r.issue_key for r in rows] == ["DEV-2", "DEV-3"]
                assert await three.door.work.points.due(now=time.time() + 3600) == []

        asyncio.run(scenario())


def test_a_due_second_pass_is_taken_by_one_instance(database_url: str) -> None:
    with running_fake() as (fake, fake_url):
        settings = flow_settings(database_url, fake_url)

        async def scenario() -> None:
            async with serving(settings, fake, clock=False) as one:
                site = await one.connect()
                points = one.door.work.points
                await points.plan_second_pass(site.cloud_id, since=100.0, due=200.0)
                await points.plan_second_pass(site.cloud_id, since=150.0, due=210.0)
                assert await points.due(now=205.0) == []
                [planned] = await points.due(now=210.0)
                assert planned == SecondPass(site.cloud_id, 100.0, 210.0)
                taken = await asyncio.gather(points.take(planned), points.take(planned))
                assert sorted(taken) == [False, True]
                assert await points.due(now=1e12) == []

        asyncio.run(scenario())
