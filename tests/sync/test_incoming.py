"""Status coming back from the fake Jira's own webhook bodies: once per change, never an echo."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from addon.simulator import APP_ACCOUNT, FakeJiraWork
from addon.sync import (
    ECHO_SECONDS,
    Adapter,
    Change,
    IssueChanged,
    JiraUnavailable,
    Link,
    StatusCategories,
    StatusChanged,
    incoming_change,
)
from tests.sync.support import Clock, Sync, adapter_for, client_factory, running_jira, sync_parts

PERSON = "5b10ac8d82e05b22cc7d4ef5"


class Setup:
    def __init__(self, fake: FakeJiraWork, url: str, sync: Sync, clock: Clock) -> None:
        self.fake, self.sync, self.clock = fake, sync, clock
        self.cloud_id = next(iter(fake.sites))
        self.categories = StatusCategories(client_factory(fake, url), clock=clock.now)
        self.adapter: Adapter
        self.link: Link

    async def start(self) -> None:
        site = self.fake.sites[self.cloud_id]
        self.adapter = await self.sync.store.add_adapter(adapter_for(site.url), now=1.0)
        self.link = await self.sync.pusher.push(
            self.adapter, "item-1", Change(title="Sync me", status="Open")
        )

    async def deliver(
        self, body: dict[str, Any], *, app_account_id: str | None = None
    ) -> list[StatusChanged | IssueChanged]:
        link = await self.sync.store.link_of_issue(self.link.site, str(body["issue"]["id"]))
        assert link is not None
        return await incoming_change(
            self.sync.store,
            body,
            link=link,
            adapter=self.adapter,
            categories=self.categories,
            now=self.clock.now(),
            app_account_id=app_account_id,
        )

    def human(self, to_status: str) -> dict[str, Any]:
        issue_id = str(self.link.issue_id)
        self.fake.transition(self.cloud_id, issue_id, to_status, account=PERSON)
        return self.fake.webhooks[-1]


def run(database_url: str, test: Callable[[Setup], Awaitable[None]], **site: Any) -> None:
    clock = Clock()
    with running_jira(clock) as (fake, url):
        fake.add_site("acme", **site)

        async def go() -> None:
            async with sync_parts(database_url, fake, url, clock) as sync:
                setup = Setup(fake, url, sync, clock)
                await setup.start()
                await test(setup)

        asyncio.run(go())


def test_a_human_status_change_is_reported_once_through_retries_and_two_doors(
    database_url: str,
) -> None:
    async def test(s: Setup) -> None:
        body = s.human("10001")
        (event,) = await s.deliver(body)
        assert isinstance(event, StatusChanged)
        assert event.event == "sync:status_changed"
        assert (event.adapter, event.item_id) == ("tickets", "item-1")
        assert (event.previous, event.status) == ("Open", "In Progress")
        assert (event.jira_status.id, event.jira_status.category) == ("10001", "indeterminate")
        assert await s.deliver(copy.deepcopy(body)) == []  # Jira's retry
        assert await s.deliver(copy.deepcopy(body)) == []  # the same change by another door
        link = await s.sync.store.link("tickets", "item-1")
        assert link is not None and link.local_status == "In Progress"

    run(database_url, test)


def test_the_syncs_own_transitions_do_not_come_back(database_url: str) -> None:
    async def test(s: Setup) -> None:
        s.fake.webhooks.clear()
        await s.sync.pusher.push(s.adapter, "item-1", Change(status="Resolved"))
        moves = [b for b in s.fake.webhooks if b["changelog"]["items"][0]["field"] == "status"]
        assert len(moves) == 3  # To Do, In Progress, In Review, Done
        for body in moves:
            assert await s.deliver(body) == []
        # A person later moves it back to a status the sync passed through: that is theirs.
        (event,) = await s.deliver(s.human("10000"))
        assert isinstance(event, StatusChanged) and event.status == "Open"
        (event,) = await s.deliver(s.human("10001"))
        assert isinstance(event, StatusChanged) and event.previous == "Open"

    run(database_url, test)


def test_an_echo_is_ours_only_for_two_minutes_after_the_transition(database_url: str) -> None:
    async def test(s: Setup) -> None:
        s.fake.webhooks.clear()
        await s.sync.pusher.push(s.adapter, "item-1", Change(status="In Progress"))
        (echo,) = s.fake.webhooks
        s.clock.advance(ECHO_SECONDS + 1)
        (event,) = await s.deliver(echo)
        assert isinstance(event, StatusChanged) and event.status == "In Progress"

    run(database_url, test)


def test_the_acting_account_rule_only_where_the_caller_enables_it(database_url: str) -> None:
    async def test(s: Setup) -> None:
        s.fake.edit(s.cloud_id, str(s.link.issue_id), account=APP_ACCOUNT, summary="By the app")
        assert await s.deliver(s.fake.webhooks[-1], app_account_id=APP_ACCOUNT) == []
        s.fake.edit(s.cloud_id, str(s.link.issue_id), account=PERSON, summary="By a person")
        (event,) = await s.deliver(s.fake.webhooks[-1], app_account_id=APP_ACCOUNT)
        assert isinstance(event, IssueChanged)
        assert [(c.field, c.before, c.after) for c in event.changes] == [
            ("summary", "By the app", "By a person")
        ]

    run(database_url, test)


def test_on_a_door_acting_as_the_user_their_own_edits_still_come_back(
    database_url: str,
) -> None:
    async def test(s: Setup) -> None:
        # OAuth: the sync's calls act as the connecting person, so no acting-account rule.
        s.fake.tokens["app-token"] = PERSON
        s.fake.webhooks.clear()
        await s.sync.pusher.push(s.adapter, "item-1", Change(status="In Progress"))
        (ours,) = s.fake.webhooks
        assert ours["user"]["accountId"] == PERSON
        assert await s.deliver(ours) == []
        (event,) = await s.deliver(s.human("10000"))
        assert isinstance(event, StatusChanged) and event.status == "Open"

    run(database_url, test)


def test_a_missing_category_is_asked_of_jira_once_per_site(database_url: str) -> None:
    async def test(s: Setup) -> None:
        bodies = [s.human("10001"), s.human("10002")]
        for body in bodies:
            del body["issue"]["fields"]["status"]["statusCategory"]
        s.fake.requests.clear()
        (first,) = await s.deliver(bodies[0])
        (second,) = await s.deliver(bodies[1])
        assert isinstance(first, StatusChanged) and isinstance(second, StatusChanged)
        assert second.status == "In Progress" and second.jira_status.category == "indeterminate"
        asked = [path for _, path in s.fake.requests if "/status/" in path]
        assert [p.rsplit("/", 1)[-1] for p in asked] == ["10001", "10002"]
        assert len(await s.deliver(s.human("10000"))) == 1
        s.fake.requests.clear()
        third = s.human("10001")
        del third["issue"]["fields"]["status"]["statusCategory"]
        assert len(await s.deliver(third)) == 1
        assert s.fake.requests == []

    run(database_url, test, language="de")


def test_a_failed_category_lookup_leaves_the_change_for_the_retry(database_url: str) -> None:
    async def test(s: Setup) -> None:
        body = s.human("10001")
        del body["issue"]["fields"]["status"]["statusCategory"]
        s.fake.fail_next("GET", "/status/10001", "503")
        with pytest.raises(JiraUnavailable):
            await s.deliver(copy.deepcopy(body))
        (event,) = await s.deliver(body)
        assert isinstance(event, StatusChanged) and event.status == "In Progress"

    run(database_url, test)


def test_a_status_without_category_is_an_issue_change(database_url: str) -> None:
    async def test(s: Setup) -> None:
        (event,) = await s.deliver(s.human("10004"))
        assert isinstance(event, IssueChanged)
        assert [(c.field, c.after) for c in event.changes] == [("status", "Parked")]
        link = await s.sync.store.link("tickets", "item-1")
        assert link is not None and link.local_status == "Open"

    run(database_url, test)


def test_catch_up_without_a_changelog_is_reported_once(database_url: str) -> None:
    async def test(s: Setup) -> None:
        body = s.human("10001")
        caught_up = {"issue": copy.deepcopy(body["issue"])}
        (event,) = await s.deliver(caught_up)
        assert isinstance(event, StatusChanged) and event.previous == "Open"
        assert await s.deliver(copy.deepcopy(caught_up)) == []

    run(database_url, test)


def test_a_changelog_given_as_a_bare_list_of_items_still_moves_the_status(
    database_url: str,
) -> None:
    async def test(s: Setup) -> None:
        body = s.human("10001")
        listed = {**copy.deepcopy(body), "changelog": body["changelog"]["items"]}
        del listed["issue"]["fields"]["status"]  # only the changelog says where it went
        (event,) = await s.deliver(listed)
        assert isinstance(event, StatusChanged)
        assert (event.previous, event.status) == ("Open", "In Progress")
        assert event.jira_status.name == "In Progress"
        assert await s.deliver(copy.deepcopy(listed)) == []

    run(database_url, test)


def test_a_webhook_late_behind_the_catch_up_that_found_its_change_is_not_reported_again(
    database_url: str,
) -> None:
    async def test(s: Setup) -> None:
        body = s.human("10001")
        (event,) = await s.deliver({"issue": copy.deepcopy(body["issue"])})  # the catch-up
        assert isinstance(event, StatusChanged) and event.status == "In Progress"
        assert await s.deliver(copy.deepcopy(body)) == []  # the webhook, late
        (back,) = await s.deliver(s.human("10000"))  # the next change is news again
        assert isinstance(back, StatusChanged) and back.previous == "In Progress"

    run(database_url, test)


def test_a_field_edit_to_a_value_being_pushed_or_just_pushed_is_an_echo(
    database_url: str,
) -> None:
    async def test(s: Setup) -> None:
        issue_id = str(s.link.issue_id)
        change = Change(title="Queued title", description="Queued text", priority="Urgent")
        await s.sync.store.enqueue("tickets", "item-1", change, now=s.clock.now())
        # While the entry is pending, an edit to its values (the push's own) is not reported.
        s.fake.edit(
            s.cloud_id, issue_id, account=PERSON, summary="Queued title", priority={"id": "1"}
        )
        assert await s.deliver(s.fake.webhooks[-1]) == []
        s.fake.edit(s.cloud_id, issue_id, account=PERSON, summary="Another", priority={"id": "1"})
        (event,) = await s.deliver(s.fake.webhooks[-1])
        assert isinstance(event, IssueChanged)
        assert [(c.field, c.after) for c in event.changes] == [("summary", "Another")]

        entry = await s.sync.runner.run_once()
        assert entry is not None and entry.state.value == "done"
        pushed = s.fake.webhooks[-1]
        assert {i["field"] for i in pushed["changelog"]["items"]} >= {"summary", "description"}
        assert await s.deliver(pushed) == []  # done within two minutes: ours

        s.clock.advance(ECHO_SECONDS + 1)
        s.fake.edit(s.cloud_id, issue_id, account=PERSON, summary="Another")
        s.fake.edit(s.cloud_id, issue_id, account=PERSON, summary="Queued title")
        (event,) = await s.deliver(s.fake.webhooks[-1])  # later than that: a person's
        assert isinstance(event, IssueChanged)
        assert [(c.field, c.after) for c in event.changes] == [("summary", "Queued title")]

    run(database_url, test)
