"""Dynamic webhooks kept alive against the fake Atlassian, on the server's own (movable) clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from addon.settings import DEFAULT_SITE_WEBHOOK_EVENTS
from addon.simulator import FakeAtlassian
from addon.sites import (
    DAY,
    Site,
    SiteStatus,
    SiteWebhook,
    WebhookKeeper,
    complete_consent,
    connect_site,
    parse_expiration,
    plan_upkeep,
    project_filter,
)
from addon.sites._webhooks import spare_copies
from tests.sites.support import BASE_URL, Door, consent_code, door, running_fake

EVENTS = DEFAULT_SITE_WEBHOOK_EVENTS


def delivery_url(site: Site) -> str:
    return f"{BASE_URL}/oauth/sites/{site.cloud_id}/webhook"


def keeper(d: Door, fake: FakeAtlassian, events: Sequence[str] = EVENTS) -> WebhookKeeper:
    return WebhookKeeper(
        d.sites,
        d.api,
        d.tokens,
        delivery_url=delivery_url,
        events=events,
        refresh_days=7,
        clock=fake.now,
    )


async def connected(d: Door, fake: FakeAtlassian, url: str) -> Site:
    consent = await complete_consent(d.api, code=await consent_code(d.http, url), base_url=BASE_URL)
    assert consent.single is not None
    return await connect_site(d.sites, consent, consent.single, now=fake.now())


def test_project_filter_and_jira_expiration_formats() -> None:
    assert project_filter(["DEV", "OPS"]) == 'project IN ("DEV", "OPS")'
    assert parse_expiration(1_700_000_000_000) == 1_700_000_000.0
    assert parse_expiration("2019-06-01T12:42:30.000+0000") == pytest.approx(1559392950.0)
    assert parse_expiration("soon") is None


def test_plan_refreshes_what_runs_out_and_replaces_a_changed_filter() -> None:
    now = 1_000_000.0
    hooks = [
        SiteWebhook(1, EVENTS, 'project IN ("DEV")', now + 6 * DAY),
        SiteWebhook(2, EVENTS, 'project IN ("DEV")', now + 20 * DAY),
        SiteWebhook(3, EVENTS, 'project IN ("OLD")', now + 20 * DAY),
        SiteWebhook(4, EVENTS, 'project IN ("DEV")', now + 20 * DAY),
    ]
    plan = plan_upkeep(
        hooks,
        [1, 2, 3],
        wanted_jql='project IN ("DEV")',
        wanted_events=EVENTS,
        now=now,
        refresh_days=7,
    )
    assert (plan.register, plan.retire, plan.refresh) == (False, (3,), (1,))
    changed = plan_upkeep(
        hooks,
        [1, 2, 3],
        wanted_jql='project IN ("DEV", "NEW")',
        wanted_events=EVENTS,
        now=now,
        refresh_days=7,
    )
    assert (changed.register, changed.retire, changed.refresh) == (True, (1, 2, 3), ())


def test_registered_then_refreshed_before_expiry_then_registered_again_when_forgotten(
    database_url: str,
) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                keep = keeper(d, fake)
                report = await keep.upkeep(site)
                assert len(report.registered) == 1 and not report.errors
                [hook] = fake.webhooks(site.cloud_id)
                assert hook.url == delivery_url(site)
                assert hook.jql == 'project IN ("DEV")'
                assert set(hook.events) == set(EVENTS)
                [stored] = await d.sites.webhooks(site.cloud_id)
                assert stored.webhook_id == hook.id
                assert stored.expires_at == pytest.approx(fake.now() + 30 * DAY, abs=5)

                quiet = await keep.upkeep(site)
                assert (quiet.registered, quiet.refreshed, quiet.retired) == ([], [], [])

                fake.advance(24 * DAY)  # six days left: fewer than SITE_WEBHOOK_REFRESH_DAYS
                refreshed = await keep.upkeep(site)
                assert refreshed.refreshed == [hook.id] and not refreshed.registered
                [stored] = await d.sites.webhooks(site.cloud_id)
                assert stored.expires_at == pytest.approx(fake.now() + 30 * DAY, abs=5)
                fake.advance(24 * DAY)  # past the first 30 days: alive thanks to the refresh
                assert [h.id for h in fake.webhooks(site.cloud_id)] == [hook.id]

                fake.forget_webhook(site.cloud_id, hook.id)
                again = await keep.upkeep(site)
                assert again.forgotten == [hook.id]
                assert len(again.registered) == 1 and again.registered != [hook.id]
                assert [h.webhook_id for h in await d.sites.webhooks(site.cloud_id)] == (
                    again.registered
                )

                fake.advance(31 * DAY)  # nobody refreshed: Jira let it lapse
                lapsed = await keep.upkeep(site)
                assert lapsed.forgotten == again.registered and len(lapsed.registered) == 1

        asyncio.run(scenario())


def test_a_new_project_is_covered_by_a_new_filter_registered_before_the_old_is_deleted(
    database_url: str,
) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                keep = keeper(d, fake)
                [old] = (await keep.upkeep(site)).registered
                fake.add_project(site.cloud_id, "OPS")
                seen_at_delete: list[list[int]] = []
                delete = d.api.delete_webhooks

                async def observed(token: str, cloud_id: str, ids: Sequence[int]) -> None:
                    seen_at_delete.append([h.id for h in fake.webhooks(cloud_id)])
                    await delete(token, cloud_id, ids)

                d.api.delete_webhooks = observed  # type: ignore[method-assign]
                report = await keep.upkeep(site)
                [new] = report.registered
                assert report.retired == [old]
                assert seen_at_delete == [[old, new]]  # both registered: no uncovered moment
                [hook] = fake.webhooks(site.cloud_id)
                assert hook.id == new and hook.jql == 'project IN ("DEV", "OPS")'

        asyncio.run(scenario())


def test_other_events_replace_the_registration_only_once_jira_accepted_the_new_one(
    database_url: str,
) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                [old] = (await keeper(d, fake).upkeep(site)).registered

                # Jira refuses the new set: the old registration keeps delivering.
                refused = await keeper(d, fake, ("jira:issue_updated", "sprint_started")).upkeep(
                    site
                )
                assert refused.errors and refused.registered == [] and refused.retired == []
                assert [h.id for h in fake.webhooks(site.cloud_id)] == [old]

                seen_at_delete: list[list[int]] = []
                delete = d.api.delete_webhooks

                async def observed(token: str, cloud_id: str, ids: Sequence[int]) -> None:
                    seen_at_delete.append([h.id for h in fake.webhooks(cloud_id)])
                    await delete(token, cloud_id, ids)

                d.api.delete_webhooks = observed  # type: ignore[method-assign]
                report = await keeper(d, fake, ("jira:issue_updated",)).upkeep(site)
                [new] = report.registered
                assert report.retired == [old] and seen_at_delete == [[old, new]]
                [hook] = fake.webhooks(site.cloud_id)
                assert hook.id == new and hook.events == ("jira:issue_updated",)
                [stored] = await d.sites.webhooks(site.cloud_id)
                assert stored.webhook_id == new and stored.events == ("jira:issue_updated",)

        asyncio.run(scenario())


def test_registration_errors_are_surfaced_and_recorded(database_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                report = await keeper(d, fake, events=("sprint_started",)).upkeep(site)
                assert report.registered == []
                assert report.errors == ["The event sprint_started is not supported"]
                stored = await d.sites.get(site.cloud_id)
                assert stored is not None
                assert stored.webhook_errors == ("The event sprint_started is not supported",)
                fixed = await keeper(d, fake).upkeep(site)
                assert fixed.registered and not fixed.errors
                stored = await d.sites.get(site.cloud_id)
                assert stored is not None and stored.webhook_errors == ()

        asyncio.run(scenario())


def test_disconnect_deletes_the_webhooks_in_jira_then_the_tokens(database_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                keep = keeper(d, fake)
                registered = (await keep.upkeep(site)).registered
                assert await keep.remove_all(site) == registered
                assert fake.webhooks(site.cloud_id) == []
                await d.sites.forget_tokens(site.cloud_id, now=fake.now())
                gone = await d.sites.get(site.cloud_id)
                assert gone is not None and gone.status is SiteStatus.DISCONNECTED
                assert gone.access_token == "" and gone.refresh_token is None
                assert await d.sites.webhooks(site.cloud_id) == []

        asyncio.run(scenario())


def test_two_passes_at_once_for_one_site_register_once(database_url: str) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as d:
                site = await connected(d, fake, url)
                keep = keeper(d, fake)  # a connect and the upkeep job, in one instance
                reports = await asyncio.gather(keep.upkeep(site), keep.upkeep(site))
                assert sorted(len(r.registered) for r in reports) == [0, 1]
                [hook] = fake.webhooks(site.cloud_id)
                assert [h.webhook_id for h in await d.sites.webhooks(site.cloud_id)] == [hook.id]

        asyncio.run(scenario())


def test_a_second_registration_of_the_same_filter_is_deleted_at_the_next_pass(
    database_url: str,
) -> None:
    with running_fake() as (fake, url):

        async def scenario() -> None:
            async with door(database_url, fake, url) as one, door(database_url, fake, url) as two:
                site = await connected(one, fake, url)
                first = await keeper(one, fake).upkeep(site)
                # What another instance passing at the same moment did: the same filter again.
                token = await two.tokens.access_token(site.cloud_id)
                [result] = await two.api.register_webhooks(
                    token,
                    site.cloud_id,
                    delivery_url(site),
                    [{"events": list(EVENTS), "jqlFilter": 'project IN ("DEV")'}],
                )
                assert result.webhook_id is not None
                await two.sites.save_webhooks(
                    site.cloud_id,
                    [SiteWebhook(result.webhook_id, EVENTS, 'project IN ("DEV")', None)],
                    now=fake.now(),
                )
                assert len(fake.webhooks(site.cloud_id)) == 2
                healed = await keeper(one, fake).upkeep(site)
                assert healed.registered == [] and len(healed.retired) == 1
                [kept] = fake.webhooks(site.cloud_id)
                assert {kept.id, *healed.retired} == {*first.registered, result.webhook_id}
                assert [h.webhook_id for h in await one.sites.webhooks(site.cloud_id)] == [kept.id]

        asyncio.run(scenario())


def test_spare_copies_keep_the_longest_lasting_registration() -> None:
    jql = 'project IN ("DEV")'
    hooks = [
        SiteWebhook(1, EVENTS, jql, 100.0),
        SiteWebhook(2, EVENTS, jql, 300.0),
        SiteWebhook(3, EVENTS, 'project IN ("OLD")', 900.0),
        SiteWebhook(4, EVENTS, jql, 200.0),
    ]
    assert spare_copies(hooks, wanted_jql=jql, wanted_events=EVENTS) == [1, 4]
    assert spare_copies(hooks[:1], wanted_jql=jql, wanted_events=EVENTS) == []
