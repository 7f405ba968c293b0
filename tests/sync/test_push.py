"""Pushing items to the fake Jira over real loopback HTTP: one issue per item, whatever happens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from addon.simulator import FakeJiraWork
from addon.simulator._jira_site import Workflow
from addon.sync import (
    MAX_TRANSITIONS,
    Change,
    JiraRefused,
    OutboxState,
    UnmappedValue,
    parse_priorities,
    parse_statuses,
    sync_label,
)
from tests.sync.support import Clock, Sync, adapter_for, running_jira, sync_parts

Test = Callable[[FakeJiraWork, Sync, Clock, str], Awaitable[None]]


def run(database_url: str, test: Test, **site: object) -> None:
    clock = Clock()
    with running_jira(clock) as (fake, url):
        cloud_id = fake.add_site("acme", **site).cloud_id  # type: ignore[arg-type]

        async def go() -> None:
            async with sync_parts(database_url, fake, url, clock) as sync:
                await test(fake, sync, clock, cloud_id)

        asyncio.run(go())


def test_create_then_update_never_duplicates(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        adapter = await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        first = Change(title="Printer jams", description="Tray 2.\n\nAgain.", priority="High")
        link = await sync.pusher.push(adapter, "item-1", first)
        assert link.issue_key == "DEV-1"
        assert link.browse_url == "https://acme.atlassian.net/browse/DEV-1"
        issue = fake.sites[cloud_id].issues[str(link.issue_id)]
        assert issue["fields"]["labels"] == [sync_label("tickets", "item-1")]
        assert issue["fields"]["priority"]["id"] == "2"
        assert issue["fields"]["description"]["type"] == "doc"
        assert len(issue["fields"]["description"]["content"]) == 2

        again = await sync.pusher.push(
            adapter, "item-1", Change(title="Printer jams daily", status="In Progress")
        )
        assert again.issue_id == link.issue_id
        assert issue["fields"]["summary"] == "Printer jams daily"
        assert issue["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
        assert issue["fields"]["priority"]["id"] == "2"

        await sync.pusher.push(adapter, "item-1", Change(status="Resolved"))
        assert issue["fields"]["status"]["statusCategory"]["key"] == "done"
        assert len(fake.sites[cloud_id].issues) == 1
        stored = await sync.store.link("tickets", "item-1")
        assert stored is not None and stored.local_status == "Resolved"
        assert stored.jira_status_id == issue["fields"]["status"]["id"]

    run(database_url, test)


def test_pushing_a_status_again_undoes_a_change_made_in_jira(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        adapter = await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        link = await sync.pusher.push(adapter, "item-1", Change(title="Mine", status="Open"))
        issue = fake.sites[cloud_id].issues[str(link.issue_id)]
        fake.transition(cloud_id, issue["id"], "10001", account="someone")
        await sync.pusher.push(adapter, "item-1", Change(title="Mine, renamed"))
        assert issue["fields"]["status"]["id"] == "10001"  # a push without status leaves it
        await sync.pusher.push(adapter, "item-1", Change(status="Open"))
        assert issue["fields"]["status"]["statusCategory"]["key"] == "new"

    run(database_url, test)


def test_a_create_whose_answer_was_lost_is_found_by_its_label(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        fake.fail_next("POST", "/issue", "kill-after")
        await sync.store.enqueue("tickets", "item-1", Change(title="Lost answer"), now=clock.at)
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.PENDING
        assert entry.last_error is not None and "no answer" in entry.last_error
        assert len(fake.sites[cloud_id].issues) == 1
        link = await sync.store.link("tickets", "item-1")
        assert link is not None and link.issue_id is None and link.creating_since is not None

        clock.advance(entry.next_attempt_at - clock.at)
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.DONE
        assert len(fake.sites[cloud_id].issues) == 1
        link = await sync.store.link("tickets", "item-1")
        assert link is not None and link.issue_id in fake.sites[cloud_id].issues

    run(database_url, test)


def test_search_lag_is_waited_out_before_creating_again(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        fake.fail_next("POST", "/issue", "kill-after")
        await sync.store.enqueue("tickets", "item-1", Change(title="Slow index"), now=clock.at)
        await sync.runner.run_once()
        clock.advance(10)  # the issue exists, but search does not see it for 30 s
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.PENDING
        assert entry.last_error is not None and "searching again" in entry.last_error
        assert len(fake.sites[cloud_id].issues) == 1
        clock.advance(entry.next_attempt_at - clock.at + 30)
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.DONE
        assert len(fake.sites[cloud_id].issues) == 1

    run(database_url, test, search_lag=30.0)


def test_a_create_jira_never_made_is_made_once_the_search_lag_has_passed(
    database_url: str,
) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        fake.fail_next("POST", "/issue", "503")
        await sync.store.enqueue("tickets", "item-1", Change(title="Never made"), now=clock.at)
        await sync.runner.run_once()
        assert fake.sites[cloud_id].issues == {}
        clock.advance(61)
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.DONE
        assert len(fake.sites[cloud_id].issues) == 1

    run(database_url, test)


def test_429_is_retried_after_retry_after(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        fake.fail_next("GET", "/priority", "429", retry_after="120")
        await sync.store.enqueue(
            "tickets", "item-1", Change(title="Busy", priority="Low"), now=clock.at
        )
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.PENDING
        assert entry.next_attempt_at >= clock.at + 120
        clock.advance(60)
        assert await sync.runner.run_once() is None
        clock.advance(61)
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.DONE
        (issue,) = fake.sites[cloud_id].issues.values()
        assert issue["fields"]["priority"]["id"] == "4"

    run(database_url, test)


def test_status_by_category_with_localised_names(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        adapter = await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        link = await sync.pusher.push(adapter, "item-1", Change(title="Ein", status="Closed"))
        status = fake.sites[cloud_id].issues[str(link.issue_id)]["fields"]["status"]
        assert status["name"] == "Erledigt"
        assert status["statusCategory"] == {**status["statusCategory"], "key": "done"}
        assert status["statusCategory"]["name"] == "Fertig"

    run(database_url, test, language="de")


def test_priority_by_id_on_a_site_that_renamed_its_priorities(database_url: str) -> None:
    renamed = (("10100", "Blocker"), ("10101", "Critical"), ("10102", "Major"), ("10103", "Minor"))

    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        url = fake.sites[cloud_id].url
        priorities = parse_priorities("Urgent=Blocker,High=Critical,Medium=Major,Low=Minor")
        adapter = await sync.store.add_adapter(adapter_for(url, priorities=priorities), now=1.0)
        link = await sync.pusher.push(adapter, "item-1", Change(title="P", priority="High"))
        issue = fake.sites[cloud_id].issues[str(link.issue_id)]
        assert issue["fields"]["priority"] == {**issue["fields"]["priority"], "id": "10101"}

        plain = await sync.store.add_adapter(adapter_for(url, name="plain"), now=1.0)
        await sync.store.enqueue("plain", "item-2", Change(title="P", priority="High"), now=1.0)
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.FAILED
        assert entry.last_error is not None
        assert "'High'" in entry.last_error and "Critical" in entry.last_error
        assert plain.name == "plain"
        assert len(fake.sites[cloud_id].issues) == 1

    run(database_url, test, priorities=renamed)


def test_a_create_jira_refused_is_not_searched_for_again(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        url = fake.sites[cloud_id].url
        wrong = await sync.store.add_adapter(adapter_for(url, issue_type="Epic"), now=1.0)
        try:
            await sync.pusher.push(wrong, "item-1", Change(title="x"))
        except JiraRefused as exc:
            assert "issuetype: valid issue type is required" in str(exc)
        else:
            raise AssertionError("Jira's refusal was not raised")
        link = await sync.store.link("tickets", "item-1")
        assert link is not None and link.issue_id is None and link.creating_since is None
        fake.requests.clear()
        right = adapter_for(url, name="tickets")
        assert (await sync.pusher.push(right, "item-1", Change(title="x"))).issue_key == "DEV-1"
        assert not any("/search/" in path for _, path in fake.requests)

    run(database_url, test)


def test_an_unmapped_status_is_refused_before_jira_is_called(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        adapter = await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        try:
            await sync.pusher.push(adapter, "item-1", Change(title="x", status="Someday"))
        except UnmappedValue as exc:
            assert "Someday" in str(exc) and "Open" in str(exc)
        else:
            raise AssertionError("an unmapped status was pushed")
        assert fake.requests == []

    run(database_url, test)


def chain(steps: int) -> Workflow:
    """To Do, then `steps - 1` statuses In Progress one after the other, then Done, with a
    Reopen from anywhere (a cycle the walk must not take)."""
    middle = [(str(20000 + n), f"Stage {n}", "indeterminate") for n in range(1, steps)]
    statuses = [("10000", "To Do", "new"), *middle, ("10003", "Done", "done")]
    ids = [sid for sid, _, _ in statuses]
    moves = [(str(100 + n), f"Step {n}", ids[n], ids[n + 1]) for n in range(len(ids) - 1)]
    return Workflow(
        statuses=tuple(statuses),
        initial="10000",
        transitions=(*moves, ("41", "Reopen", None, "10000")),
    )


def transitions_posted(fake: FakeJiraWork) -> int:
    return sum(1 for m, p in fake.requests if m == "POST" and p.endswith("/transitions"))


def test_a_workflow_of_several_steps_is_walked_up_to_the_bound(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        adapter = await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        link = await sync.pusher.push(adapter, "item-1", Change(title="x", status="Closed"))
        issue = fake.sites[cloud_id].issues[str(link.issue_id)]
        assert issue["fields"]["status"]["id"] == "10003"
        assert transitions_posted(fake) == MAX_TRANSITIONS

    run(database_url, test, workflow=chain(MAX_TRANSITIONS))


def test_a_workflow_longer_than_the_bound_is_refused_clearly(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        adapter = await sync.store.add_adapter(adapter_for(fake.sites[cloud_id].url), now=1.0)
        await sync.store.enqueue("tickets", "item-1", Change(title="x", status="Closed"), now=1.0)
        entry = await sync.runner.run_once()
        assert entry is not None and entry.state is OutboxState.FAILED
        assert entry.last_error is not None
        assert f"within {MAX_TRANSITIONS} transitions" in entry.last_error
        assert "DEV-1" in entry.last_error
        assert transitions_posted(fake) == MAX_TRANSITIONS
        [issue] = fake.sites[cloud_id].issues.values()
        assert issue["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
        assert adapter.name == "tickets"

    run(database_url, test, workflow=chain(MAX_TRANSITIONS + 3))


def test_a_status_mapped_to_a_status_id_is_walked_to_that_very_status(database_url: str) -> None:
    async def test(fake: FakeJiraWork, sync: Sync, clock: Clock, cloud_id: str) -> None:
        statuses = parse_statuses("Open=new,Doing=indeterminate,Review=indeterminate/10002")
        url = fake.sites[cloud_id].url
        adapter = await sync.store.add_adapter(adapter_for(url, statuses=statuses), now=1.0)
        link = await sync.pusher.push(adapter, "item-1", Change(title="x", status="Review"))
        issue = fake.sites[cloud_id].issues[str(link.issue_id)]
        assert issue["fields"]["status"]["id"] == "10002"  # not 10001, the category's first
        assert link.local_status == "Review" and link.jira_status_id == "10002"
        await sync.pusher.push(adapter, "item-1", Change(status="Doing"))
        assert issue["fields"]["status"]["id"] == "10002"  # already In Progress: no transition

    run(database_url, test)
