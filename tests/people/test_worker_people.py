"""The worker with people: an unmapped actor's deliveries held (never pruned) and released one at a
time in arrival order when mapped; `skip` and `deliver`; who acted on the event; user events keep
accounts current; no email in any log line. On SQLite and PostgreSQL, with the simulator's users."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import pytest

from addon.delivery import Origin
from addon.doors import AnyDoor, JiraClientFactory
from addon.handlers import Event, Handlers
from addon.people import Person, UnmappedActors
from addon.people_service import PeopleService
from addon.reach import SiteUnreachable
from addon.retention import Retention
from addon.simulator import FakeJiraUsers
from addon.store import DeliveryStatus, HandlerState, NewDelivery, Store, open_store
from addon.worker import Worker

SITE = "https://acme.atlassian.net"
HIDDEN = "hidden.person@example.com"
SHOWN = "Shown.Person@Example.com"


class OneSiteDoor:
    """The part of a door the worker asks: a client for the one site every delivery comes from."""

    kind = "connect"

    def __init__(self, reach: Callable[[str], Awaitable[JiraClientFactory]]) -> None:
        self._reach = reach

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        return await self._reach(SITE)


def fake_users() -> FakeJiraUsers:
    fake = FakeJiraUsers()
    fake.add("acc-hidden", "Hidden Person", HIDDEN)
    fake.add("acc-shown", "Shown Person", SHOWN, visible=True)
    fake.add("acc-app", "Automation", None, account_type="app")
    return fake


def client_for(fake: FakeJiraUsers) -> Callable[[str], Awaitable[JiraClientFactory]]:
    async def reach(site: str) -> JiraClientFactory:
        if site != SITE:
            raise SiteUnreachable(site)
        return JiraClientFactory(
            site,
            lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url=site),
        )

    return reach


def issue_event(
    webhook_id: str, actor: str, *, assignee: str | None = None, reporter: str | None = None
) -> NewDelivery:
    fields: dict[str, Any] = {
        "assignee": {"accountId": assignee} if assignee else None,
        "reporter": {"accountId": reporter} if reporter else None,
    }
    body = {
        "webhookEvent": "jira:issue_updated",
        "user": {"accountId": actor, "displayName": "someone"},
        "issue": {"key": "PRJ-1", "fields": fields},
    }
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=DeliveryStatus.ACCEPTED,
        event="jira:issue_updated",
        webhook_id=webhook_id,
        body=json.dumps(body).encode(),
    )


def forge_event(webhook_id: str, atlassian_id: str) -> NewDelivery:
    body = {"eventType": "avi:jira:updated:issue", "atlassianId": atlassian_id, "issue": {}}
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=DeliveryStatus.ACCEPTED,
        event="avi:jira:updated:issue",
        webhook_id=webhook_id,
        body=json.dumps(body).encode(),
    )


def user_event(webhook_id: str, name: str, user: dict[str, Any]) -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=DeliveryStatus.ACCEPTED,
        event=name,
        webhook_id=webhook_id,
        body=json.dumps({"webhookEvent": name, "user": user}).encode(),
    )


Scenario = Callable[[Store, PeopleService, Worker, list[Event]], Awaitable[None]]


def run(
    url: str,
    scenario: Scenario,
    *,
    policy: UnmappedActors = UnmappedActors.HOLD,
    slow: float = 0.0,
    fake: FakeJiraUsers | None = None,
) -> None:
    async def go() -> None:
        store = await open_store(url, handler_state=HandlerState.PENDING)
        await store.start()
        reach = client_for(fake or fake_users())
        people = PeopleService(store, reach, policy=policy)
        seen: list[Event] = []
        running: list[int] = []
        handlers = Handlers()

        @handlers.on("*")
        async def record(event: Event) -> None:
            running.append(event.delivery_id)
            assert len(running) == 1, f"handled at once: {running}"
            await asyncio.sleep(slow)
            seen.append(event)
            running.remove(event.delivery_id)

        worker = Worker(
            store,
            handlers,
            poll_interval=0.05,
            concurrency=8,
            doors={"connect": cast(AnyDoor, OneSiteDoor(reach))},
            gate=people.admit,
        )
        await worker.start()
        try:
            await people.upsert(
                [
                    Person("p-hidden", HIDDEN, "Hidden"),
                    Person("p-shown", "shown.person@example.com"),
                ]
            )
            await scenario(store, people, worker, seen)
        finally:
            await worker.stop()
            await store.close()

    asyncio.run(go())


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def state_of(store: Store, delivery_id: int) -> HandlerState:
    delivery = await store.deliveries.get(delivery_id)
    assert delivery is not None
    return delivery.handler_state


def test_held_until_mapped_then_released_one_at_a_time_in_order_and_never_pruned(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="addon")

    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        held = [
            (await store.writer.record(issue_event(f"h{n}", "acc-hidden"))).id for n in range(4)
        ]
        shown = (await store.writer.record(issue_event("s", "acc-shown", assignee="acc-hidden"))).id
        worker.wake()

        async def settled() -> bool:
            states = [await state_of(store, i) for i in held]
            return states == [HandlerState.HELD] * 4 and any(e.delivery_id == shown for e in seen)

        await until(settled)
        event = next(e for e in seen if e.delivery_id == shown)
        assert event.people.actor == Person("p-shown", "shown.person@example.com")
        assert event.people.assignee is None  # acc-hidden is no one yet
        first = await store.deliveries.get(held[0])
        assert first is not None
        assert (first.held_site, first.held_account) == (SITE, "acc-hidden")
        assert first.attempts == 0  # being held is no attempt

        pruned = await Retention(store, days=0).prune_once(now=time.time() + 3600)
        assert pruned == 1  # the handled one; held ones are kept however old
        assert all([await store.deliveries.get(i) is not None for i in held])

        await people.map(SITE, "acc-hidden", "p-hidden")

        async def all_done() -> bool:
            return [await state_of(store, i) for i in held] == [HandlerState.DONE] * 4

        await until(all_done)
        released = [e for e in seen if e.delivery_id in held]
        assert [e.delivery_id for e in released] == held  # one at a time, in arrival order
        assert all(e.people.actor == Person("p-hidden", HIDDEN, "Hidden") for e in released)
        await until(lambda: _no_held(store))
        assert await Retention(store, days=0).prune_once(now=time.time() + 3600) == 4

    run(database_url, scenario, slow=0.05)
    for record in caplog.records:
        text = record.getMessage().casefold()
        assert HIDDEN not in text and SHOWN.casefold() not in text, text


async def _no_held(store: Store) -> bool:
    row = await store.db.fetch_one(
        "SELECT COUNT(*) AS n FROM deliveries WHERE held_account IS NOT NULL"
    )
    return row is not None and int(row["n"]) == 0


def test_a_forge_atlassian_id_is_looked_up_first(database_url: str) -> None:
    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        hidden = (await store.writer.record(forge_event("f1", "acc-hidden"))).id
        app = (await store.writer.record(forge_event("f2", "acc-app"))).id
        worker.wake()
        await until(lambda: _states_are(store, {hidden: HandlerState.HELD, app: HandlerState.DONE}))
        account = await people.people.account(SITE, "acc-app")
        assert account is not None and account.account_type.value == "app"
        assert [e.people.actor for e in seen] == [None]

    run(database_url, scenario)


def test_issue_events_name_assignee_and_reporter_and_a_forge_actor_is_mapped_first(
    database_url: str,
) -> None:
    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        await people.lookup(SITE, "acc-hidden")
        await people.map(SITE, "acc-hidden", "p-hidden")
        hidden = Person("p-hidden", HIDDEN, "Hidden")
        shown = Person("p-shown", "shown.person@example.com")
        # a Forge atlassianId never seen before: looked up (its email is visible), mapped by it,
        # and only then decided on: delivered with its person, not held
        assert await people.people.account(SITE, "acc-shown") is None
        forge = (await store.writer.record(forge_event("f1", "acc-shown"))).id
        worker.wake()
        await until(lambda: _states_are(store, {forge: HandlerState.DONE}))
        [event] = seen
        assert (event.people.actor, event.people.assignee, event.people.reporter) == (
            shown, None, None
        )  # fmt: skip

        issue = (
            await store.writer.record(
                issue_event("i1", "acc-hidden", assignee="acc-shown", reporter="acc-hidden")
            )
        ).id
        worker.wake()
        await until(lambda: _states_are(store, {issue: HandlerState.DONE}))
        event = seen[1]
        assert (event.people.actor, event.people.assignee, event.people.reporter) == (
            hidden, shown, hidden
        )  # fmt: skip

    run(database_url, scenario)


def test_a_forge_user_event_names_only_an_account_id_so_the_account_is_looked_up(
    database_url: str,
) -> None:
    fake = fake_users()
    fake.add("acc-new", "New Person", "new.person@example.com")  # a human, email hidden

    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        created = NewDelivery(
            received_at=time.time(),
            origin_kind="connect",
            origin="tenant-1",
            status=DeliveryStatus.ACCEPTED,
            event="avi:jira:created:user",
            webhook_id="u-new",
            body=json.dumps(
                {"eventType": "avi:jira:created:user", "user": {"accountId": "acc-new"}}
            ).encode(),
        )
        user = (await store.writer.record(created)).id
        worker.wake()
        await until(lambda: _states_are(store, {user: HandlerState.DONE}))
        account = await people.people.account(SITE, "acc-new")
        assert account is not None
        assert (account.account_type.value, account.display_name) == ("atlassian", "New Person")
        issue = (await store.writer.record(forge_event("f-new", "acc-new"))).id
        worker.wake()
        await until(lambda: _states_are(store, {issue: HandlerState.HELD}))  # a person, unmapped

    run(database_url, scenario, fake=fake)


async def _states_are(store: Store, wanted: dict[int, HandlerState]) -> bool:
    return all([await state_of(store, i) == s for i, s in wanted.items()])


def test_skip_keeps_the_delivery_and_never_runs_handlers(sqlite_url: str) -> None:
    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        skipped = (await store.writer.record(issue_event("k", "acc-hidden"))).id
        shown = (await store.writer.record(issue_event("s", "acc-shown"))).id
        worker.wake()
        await until(
            lambda: _states_are(store, {skipped: HandlerState.NONE, shown: HandlerState.DONE})
        )
        delivery = await store.deliveries.get(skipped)
        assert delivery is not None and "UNMAPPED_ACTORS=skip" in (delivery.last_error or "")
        assert [e.delivery_id for e in seen] == [shown]
        await people.map(SITE, "acc-hidden", "p-hidden")
        await asyncio.sleep(0.2)
        assert await state_of(store, skipped) is HandlerState.NONE  # skipped is never run

    run(sqlite_url, scenario, policy=UnmappedActors.SKIP)


def test_deliver_runs_handlers_with_no_actor(sqlite_url: str) -> None:
    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        hidden = (await store.writer.record(issue_event("d", "acc-hidden"))).id
        worker.wake()
        await until(lambda: _states_are(store, {hidden: HandlerState.DONE}))
        assert [(e.delivery_id, e.people.actor) for e in seen] == [(hidden, None)]

    run(sqlite_url, scenario, policy=UnmappedActors.DELIVER)


def test_user_events_keep_accounts_current(database_url: str) -> None:
    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        await people.refresh(SITE)
        before = await people.people.account(SITE, "acc-shown")
        assert before is not None and before.display_name == "Shown Person"
        user = {"accountId": "acc-new", "accountType": "atlassian", "displayName": "New One"}
        ids = [
            (await store.writer.record(user_event("u1", "user_created", user))).id,
            (
                await store.writer.record(
                    user_event("u2", "user_updated", {**user, "accountId": "acc-shown"})
                )
            ).id,
            (
                await store.writer.record(
                    user_event("u3", "user_deleted", {"accountId": "acc-app"})
                )
            ).id,
        ]
        worker.wake()
        await until(lambda: _states_are(store, dict.fromkeys(ids, HandlerState.DONE)))
        created = await people.people.account(SITE, "acc-new")
        assert created is not None and created.display_name == "New One"
        updated = await people.people.account(SITE, "acc-shown")
        assert updated is not None and updated.display_name == "New One"
        assert updated.email == SHOWN  # the event's user has no email; the known one is kept
        assert await people.people.account(SITE, "acc-app") is None

    run(database_url, scenario)


def test_nothing_is_held_while_the_directory_is_empty(sqlite_url: str) -> None:
    async def scenario(
        store: Store, people: PeopleService, worker: Worker, seen: list[Event]
    ) -> None:
        for person in ("p-hidden", "p-shown"):
            await people.remove(person)
        first = (await store.writer.record(issue_event("e1", "acc-hidden"))).id
        worker.wake()
        await until(lambda: _states_are(store, {first: HandlerState.DONE}))
        await people.upsert(Person("p-other", "other@example.com"))
        second = (await store.writer.record(issue_event("e2", "acc-hidden"))).id
        worker.wake()
        await until(lambda: _states_are(store, {second: HandlerState.HELD}))
        assert [e.delivery_id for e in seen] == [first]

    run(sqlite_url, scenario)
