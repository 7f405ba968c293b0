"""Catch-up: what changed in a gap, found by search, each change once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from addon.sites import (
    CATCH_UP_EVENT,
    OVERLAP_SECONDS,
    catch_up,
    catch_up_jql,
    complete_consent,
    connect_site,
)
from tests.sites.flow import flow_settings, serving
from tests.sites.support import BASE_URL, consent_code, door, running_fake


def test_the_query_starts_five_minutes_early_at_minute_precision() -> None:
    since = datetime(2026, 12, 4, 17, 50, 42, tzinfo=UTC).timestamp()
    assert OVERLAP_SECONDS == 300
    assert catch_up_jql(["DEV"], since) == (
        'project IN ("DEV") AND updated >= "2026-12-04 17:45" ORDER BY updated ASC'
    )
    assert CATCH_UP_EVENT == "catch-up:issue"


def test_catch_up_finds_only_what_changed_since_across_pages(sqlite_url: str) -> None:
    with running_fake(projects=("DEV", "OPS")) as (fake, url):

        async def scenario() -> None:
            async with door(sqlite_url, fake, url) as d:
                consent = await complete_consent(
                    d.api, code=await consent_code(d.http, url), base_url=BASE_URL
                )
                assert consent.single is not None
                site = await connect_site(d.sites, consent, consent.single, now=fake.now())
                cloud = site.cloud_id
                fake.touch_issue(cloud, "DEV-1", "before the gap")
                fake.advance(60)  # inside the query's overlap, but before the gap: not missed
                since = fake.now()
                fake.advance(1)
                for number in range(2, 132):
                    fake.touch_issue(cloud, f"DEV-{number}", "missed")
                fake.touch_issue(cloud, "OPS-1", "missed elsewhere")
                fake.advance(1)
                fake.touch_issue(cloud, "DEV-2", "missed twice")

                token = await d.tokens.access_token(cloud)
                found = await catch_up(d.api, token, cloud, ["DEV"], since=since)
                keys = [change.key for change in found]
                assert "DEV-1" not in keys and "OPS-1" not in keys
                # Search shows an issue as it is now: DEV-2 once, as last changed, oldest first.
                assert sorted(keys) == sorted(f"DEV-{n}" for n in range(2, 132))
                assert keys[-1] == "DEV-2"
                last = found[-1]
                assert last.identifier == f"catch-up:{last.issue_id}:{last.updated}"
                assert last.issue["fields"]["summary"] == "missed twice"

                # Found again (the overlap, the pass a minute later): the same identifiers.
                again = await catch_up(d.api, token, cloud, ["DEV"], since=since)
                assert [c.identifier for c in again] == [c.identifier for c in found]
                fake.advance(1)
                fake.touch_issue(cloud, "DEV-2", "changed once more")
                later = await catch_up(d.api, token, cloud, ["DEV"], since=since)
                assert later[-1].issue_id == last.issue_id
                assert later[-1].identifier != last.identifier

        asyncio.run(scenario())


def test_the_query_reads_the_start_in_the_users_time_zone() -> None:
    since = datetime(2026, 12, 4, 17, 50, 42, tzinfo=UTC).timestamp()
    jql = catch_up_jql(["DEV"], since, zone=ZoneInfo("Pacific/Honolulu"))
    assert jql == 'project IN ("DEV") AND updated >= "2026-12-04 07:45" ORDER BY updated ASC'


def test_a_catch_up_asks_in_the_connecting_users_time_zone(sqlite_url: str) -> None:
    with running_fake() as (fake, fake_url):
        # Ten hours behind UTC: a start written in UTC would be read ten hours late, missing all.
        fake.time_zone = ZoneInfo("Pacific/Honolulu")

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                site = await flow.connect()
                since = fake.now()
                fake.advance(1)
                fake.touch_issue(site.cloud_id, "DEV-7", "missed")
                assert await flow.door.work.catch_up(site, since, again=False) == 1
                [row] = await flow.rows(1, event=CATCH_UP_EVENT)
                assert row.issue_key == "DEV-7"

        asyncio.run(scenario())
