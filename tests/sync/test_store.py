"""The sync's rows on SQLite and PostgreSQL: adapters, links, the leased outbox, echoes, once."""

from __future__ import annotations

import asyncio

import pytest

from addon.store import open_store
from addon.sync import (
    DEFAULT_PRIORITIES,
    DEFAULT_STATUSES,
    Adapter,
    AdapterExists,
    Change,
    InvalidItem,
    OutboxState,
    SyncStore,
    UnknownAdapter,
    sync_label,
)

ADAPTER = Adapter(
    "tickets", "https://acme.atlassian.net", "DEV", "Task", DEFAULT_STATUSES, DEFAULT_PRIORITIES
)


def run(database_url: str, test: object) -> None:
    async def go() -> None:
        store = await open_store(database_url)
        try:
            await test(SyncStore(store.db))  # type: ignore[operator]
        finally:
            await store.db.disconnect()

    asyncio.run(go())


def test_adapters_add_list_remove_keeps_links(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        added = await sync.add_adapter(ADAPTER, now=1.0)
        assert added.statuses == DEFAULT_STATUSES and added.priorities == DEFAULT_PRIORITIES
        with pytest.raises(AdapterExists):
            await sync.add_adapter(ADAPTER, now=2.0)
        link = await sync.begin_create(added, "item-1", now=3.0)
        await sync.record_issue(link, issue_id="10001", issue_key="DEV-1", browse_url="u", now=4)
        await sync.enqueue("tickets", "item-1", Change(title="t"), now=5.0)
        assert [a.name for a in await sync.adapters()] == ["tickets"]
        await sync.remove_adapter("tickets")
        assert await sync.adapters() == []
        assert await sync.entries() == []
        kept = await sync.link("tickets", "item-1")
        assert kept is not None and kept.issue_key == "DEV-1"
        with pytest.raises(UnknownAdapter):
            await sync.remove_adapter("tickets")
        with pytest.raises(UnknownAdapter):
            await sync.enqueue("tickets", "item-1", Change(title="t"), now=6.0)

    run(database_url, test)


def test_a_create_under_way_is_remembered_until_the_issue_is_recorded(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        adapter = await sync.add_adapter(ADAPTER, now=1.0)
        first = await sync.begin_create(adapter, "item-1", now=10.0)
        again = await sync.begin_create(adapter, "item-1", now=20.0)
        assert first.creating_since == again.creating_since == 10.0
        assert first.label == sync_label("tickets", "item-1")
        done = await sync.record_issue(
            again, issue_id="10001", issue_key="DEV-1", browse_url="u", now=30.0
        )
        assert done.creating_since is None
        assert await sync.link_of_issue(adapter.site, "10001") == done

    run(database_url, test)


def test_the_outbox_leases_in_order_and_resumes_after_a_crash(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        await sync.add_adapter(ADAPTER, now=1.0)
        first = await sync.enqueue("tickets", "a", Change(title="one"), now=1.0)
        second = await sync.enqueue("tickets", "a", Change(title="two"), now=1.0)
        other = await sync.enqueue("tickets", "b", Change(title="b"), now=1.0)
        one = await sync.claim("instance-1", now=2.0, lease=30.0)
        assert one is not None and one.id == first and one.attempts == 1
        # The item's second change waits for its first; another item's does not.
        two = await sync.claim("instance-2", now=2.0, lease=30.0)
        assert two is not None and two.id == other
        assert await sync.claim("instance-2", now=3.0, lease=30.0) is None
        assert await sync.finish(two, "instance-2", OutboxState.DONE, now=3.0)
        # instance-1 crashes: once its lease runs out, another instance resumes the entry.
        resumed = await sync.claim("instance-2", now=40.0, lease=30.0)
        assert resumed is not None and resumed.id == first and resumed.attempts == 2
        assert not await sync.finish(one, "instance-1", OutboxState.DONE, now=41.0)
        assert await sync.finish(
            resumed,
            "instance-2",
            OutboxState.PENDING,
            now=41.0,
            next_attempt_at=100.0,
            error="Jira answered 503: " + "x" * 5000,
        )
        stored = await sync.entry(first)
        assert stored is not None and stored.state is OutboxState.PENDING
        assert stored.last_error is not None and len(stored.last_error) == 1000
        assert await sync.claim("instance-2", now=50.0, lease=30.0) is None
        again = await sync.claim("instance-2", now=100.0, lease=30.0)
        assert again is not None and again.id == first
        assert await sync.finish(again, "instance-2", OutboxState.DONE, now=101.0)
        last = await sync.claim("instance-2", now=101.0, lease=30.0)
        assert last is not None and last.id == second

    run(database_url, test)


def test_echoes_are_taken_once_and_only_while_recent(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        site = "https://acme.atlassian.net"
        pending = await sync.begin_transition(site, "10001", "1", "3", now=100.0)
        assert await sync.take_echo(site, "10001", "1", "3", now=101.0)
        assert not await sync.take_echo(site, "10001", "1", "3", now=101.0)
        done = await sync.begin_transition(site, "10001", "3", "5", now=200.0)
        await sync.end_transition(done, done=True, now=200.0)
        assert not await sync.take_echo(site, "10001", "1", "5", now=201.0)
        assert not await sync.take_echo(site, "10001", "3", "5", now=200.0 + 121.0)
        failed = await sync.begin_transition(site, "10001", "5", "6", now=300.0)
        await sync.end_transition(failed, done=False, now=300.0)
        assert not await sync.take_echo(site, "10001", "5", "6", now=300.0)
        assert pending != done

    run(database_url, test)


def test_a_change_is_processed_once(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        site = "https://acme.atlassian.net"
        results = await asyncio.gather(
            *(sync.first_time(site, "10001/changelog/555", now=1.0) for _ in range(5))
        )
        assert sorted(results) == [False] * 4 + [True]
        assert await sync.first_time("https://other.atlassian.net", "10001/changelog/555", now=1)

    run(database_url, test)


def test_item_ids_and_fields_are_bounded() -> None:
    with pytest.raises(InvalidItem):
        Change(title="x" * 256)
    with pytest.raises(InvalidItem):
        Change(title="")
    with pytest.raises(InvalidItem):
        Change.from_dict({"title": "t", "assignee": "me"})
    with pytest.raises(InvalidItem):
        Change.from_dict({"title": 5})


def test_an_item_id_is_bounded_when_queued(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        await sync.add_adapter(ADAPTER, now=1.0)
        for bad in ("", "x" * 201, "a\nb"):
            with pytest.raises(InvalidItem):
                await sync.enqueue("tickets", bad, Change(title="t"), now=1.0)
        assert await sync.entries() == []

    run(database_url, test)


def test_prune_forgets_old_records_only(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        site = "https://acme.atlassian.net"
        assert await sync.first_time(site, "old", now=1.0)
        assert await sync.first_time(site, "new", now=1000.0)
        old = await sync.begin_transition(site, "1", "a", "b", now=1.0)
        await sync.end_transition(old, done=True, now=1.0)
        await sync.begin_transition(site, "1", "b", "c", now=1.0)  # still pending: kept
        await sync.prune(before=500.0)
        assert await sync.first_time(site, "old", now=1001.0)
        assert not await sync.first_time(site, "new", now=1001.0)
        assert await sync.take_echo(site, "1", "b", "c", now=1001.0)
        assert not await sync.take_echo(site, "1", "a", "b", now=2.0)

    run(database_url, test)


def test_what_was_pushed_recently_is_known_for_two_minutes(database_url: str) -> None:
    async def test(sync: SyncStore) -> None:
        await sync.add_adapter(ADAPTER, now=1.0)
        await sync.enqueue("tickets", "a", Change(title="one"), now=1.0)
        await sync.enqueue("tickets", "a", Change(title="two"), now=1.0)
        await sync.enqueue("tickets", "b", Change(title="other item"), now=1.0)

        def titles(changes: list[Change]) -> list[str | None]:
            return [c.title for c in changes]

        assert titles(await sync.pushed_recently("tickets", "a", now=2.0, within=120)) == [
            "one",
            "two",
        ]  # queued
        one = await sync.claim("i", now=2.0, lease=30.0)
        assert one is not None and await sync.finish(one, "i", OutboxState.DONE, now=10.0)
        two = await sync.claim("i", now=11.0, lease=30.0)
        assert two is not None and two.change.title == "two"
        assert titles(await sync.pushed_recently("tickets", "a", now=12.0, within=120)) == [
            "one",
            "two",
        ]  # done, running
        assert await sync.finish(two, "i", OutboxState.FAILED, now=20.0, error="walk")
        assert titles(await sync.pushed_recently("tickets", "a", now=131.0, within=120)) == [
            "two"
        ]  # a failed change may have edited fields first
        assert await sync.pushed_recently("tickets", "a", now=141.0, within=120) == []

    run(database_url, test)
