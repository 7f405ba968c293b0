"""`Sync.observe`: deliveries of every origin kind become derived deliveries in the log; the
acting-account rule only where calls act as the app; catch-up (no changelog) reported once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from addon.doors import JiraClientFactory
from addon.simulator import APP_ACCOUNT, FakeJiraWork
from addon.store import Delivery, DeliveryStatus, NewDelivery, Store, open_store
from addon.sync import ORIGIN_KIND, Change, OutboxState, Sync, sync_label
from tests.sync.support import Clock, adapter_for, running_jira

PERSON = "5b10ac8d82e05b22cc7d4ef5"


Client = Callable[[], httpx.AsyncClient]


def run(
    database_url: str,
    scenario: Callable[[Store, Sync, FakeJiraWork, str, Client], Awaitable[None]],
) -> None:
    clock = Clock()
    with running_jira(clock) as (fake, url):
        site = fake.add_site("acme")

        def client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=f"{url}/ex/jira/{site.cloud_id}",
                headers={"Authorization": "Bearer app-token"},
                trust_env=False,
            )

        async def sites(name: str) -> JiraClientFactory:
            return JiraClientFactory(site.url, client)

        async def main() -> None:
            store = await open_store(database_url)
            await store.start()
            try:
                sync = Sync(store.db, sites, record=store.writer.record, clock=time.time)
                await sync.store.add_adapter(adapter_for(site.url), now=1.0)
                await scenario(store, sync, fake, site.cloud_id, client)
            finally:
                await store.close()

        asyncio.run(main())


async def logged(store: Store, kind: str, event: str, body: dict[str, Any]) -> Delivery:
    data = json.dumps(body).encode()
    recorded = await store.writer.record(
        NewDelivery(
            received_at=time.time(),
            origin_kind=kind,
            origin="somewhere",
            status=DeliveryStatus.ACCEPTED,
            event=event,
            webhook_id=f"{kind}-{time.monotonic_ns()}",
            body=data,
            body_size=len(data),
        )
    )
    found = await store.deliveries.get(recorded.id)
    assert found is not None
    return found


async def derived(store: Store) -> list[Delivery]:
    rows = await store.deliveries.after(0, limit=500)
    return [d for d in rows if d.origin_kind == ORIGIN_KIND and d.status == DeliveryStatus.ACCEPTED]


def test_acting_account_rule_only_for_doors_that_act_as_the_app(database_url: str) -> None:
    async def scenario(
        store: Store, sync: Sync, fake: FakeJiraWork, cloud_id: str, client: Client
    ) -> None:
        pushed = await sync.push("tickets", "item-1", title="Sync me", status="Open")
        assert pushed.done and pushed.link is not None
        issue_id = str(pushed.link.issue_id)
        fake.edit(cloud_id, issue_id, account=APP_ACCOUNT, summary="Edited by the app")
        by_app = fake.webhooks[-1]
        connect = await logged(store, "connect", "jira:issue_updated", by_app)
        assert await sync.observe(connect, site_url=None, client=client) == 0

        fake.edit(cloud_id, issue_id, account=APP_ACCOUNT, summary="Edited again, as the user")
        as_user = fake.webhooks[-1]
        oauth = await logged(store, "oauth", "jira:issue_updated", as_user)
        assert await sync.observe(oauth, site_url=None, client=client) == 1
        [event] = await derived(store)
        assert event.event == "sync:issue_changed"
        assert json.loads(event.body)["changes"][0]["after"] == "Edited again, as the user"
        assert await sync.observe(event, site_url=None, client=None) == 0  # never fed back

        fake.transition(cloud_id, issue_id, "10001", account=PERSON)
        forge_body = {k: v for k, v in fake.webhooks[-1].items() if k != "user"}
        forge_body["atlassianId"] = PERSON
        forge = await logged(store, "forge", "avi:jira:updated:issue", {"payload": forge_body})
        assert await sync.observe(forge, site_url=None, client=client) == 1
        changed = [d for d in await derived(store) if d.event == "sync:status_changed"]
        assert json.loads(changed[0].body)["status"] == "In Progress"

    run(database_url, scenario)


def test_catch_up_without_changelog_is_reported_once(database_url: str) -> None:
    async def scenario(
        store: Store, sync: Sync, fake: FakeJiraWork, cloud_id: str, client: Client
    ) -> None:
        pushed = await sync.push("tickets", "item-2", title="Catch me", status="Open")
        assert pushed.link is not None
        issue_id = str(pushed.link.issue_id)
        fake.transition(cloud_id, issue_id, "10001", account=PERSON)
        issue = json.loads(json.dumps(fake.sites[cloud_id].issues[issue_id]))
        body = {"issue": issue}
        first = await logged(store, "catch-up:issue", "catch-up:issue", body)
        again = await logged(store, "catch-up:issue", "catch-up:issue", body)
        assert await sync.observe(first, site_url=fake.sites[cloud_id].url, client=None) == 1
        assert await sync.observe(again, site_url=fake.sites[cloud_id].url, client=None) == 0
        [event] = await derived(store)
        payload = json.loads(event.body)
        assert event.event == "sync:status_changed"
        assert (payload["previous"], payload["status"]) == ("Open", "In Progress")
        assert payload["jira_status"]["category"] == "indeterminate"
        created = await logged(store, "connect", "jira:issue_created", body)
        assert await sync.observe(created, site_url=None, client=None) == 0

    run(database_url, scenario)


def test_a_push_waits_for_an_earlier_change_of_the_same_item(database_url: str) -> None:
    async def scenario(
        store: Store, sync: Sync, fake: FakeJiraWork, cloud_id: str, client: Client
    ) -> None:
        first = await sync.queue("tickets", "item-3", Change(title="First", status="Open"))
        pushed = await sync.push("tickets", "item-3", title="Second")
        assert pushed.entry.state is OutboxState.PENDING and pushed.link is None
        assert pushed.entry.attempts == 0 and pushed.entry.next_attempt_at <= time.time()
        assert await sync.run_due() == 2
        entries = {e.id: e for e in await sync.store.entries()}
        assert entries[first].state is entries[pushed.entry.id].state is OutboxState.DONE
        [issue] = fake.issues_labelled(cloud_id, sync_label("tickets", "item-3"))
        assert issue["fields"]["summary"] == "Second"

    run(database_url, scenario)


def test_a_status_in_no_category_and_another_edit_are_two_events(database_url: str) -> None:
    async def scenario(
        store: Store, sync: Sync, fake: FakeJiraWork, cloud_id: str, client: Client
    ) -> None:
        pushed = await sync.push("tickets", "item-4", title="Park me", status="Open")
        assert pushed.link is not None
        fake.transition(cloud_id, str(pushed.link.issue_id), "10004", account=PERSON)
        body = json.loads(json.dumps(fake.webhooks[-1]))
        body["changelog"]["items"].append(
            {"field": "summary", "fieldId": "summary", "fromString": "Park me", "toString": "P"}
        )
        parked = await logged(store, "source", "jira:issue_updated", body)
        assert await sync.observe(parked, site_url=None, client=None) == 2
        events = await derived(store)
        assert [e.event for e in events] == ["sync:issue_changed", "sync:issue_changed"]
        fields = [json.loads(e.body)["changes"][0]["field"] for e in events]
        assert fields == ["status", "summary"]

    run(database_url, scenario)
