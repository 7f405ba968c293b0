"""The sync through the Forge and OAuth doors in a running add-on (uvicorn on loopback, the fake
Jira behind the API gateway's shape), on SQLite and PostgreSQL: pushing through a door that alone
knows the site, and status coming back through a real Forge event, a real OAuth delivery and an
OAuth catch-up, once each, the same change through two doors reported once, without echoes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from addon.simulator._jira_site import APP_ACCOUNT
from addon.sync import sync_label
from tests.sync.app_support import ADAPTER
from tests.sync.door_support import (
    ACCESS_TOKEN,
    CONNECTING_USER,
    DoorWorld,
    door_world,
    forge_event,
)

HUMAN = "5b10a2844c20165700ede21g"


def labelled(world: DoorWorld, item_id: str) -> list[dict[str, Any]]:
    return world.fake.issues_labelled(world.site.cloud_id, sync_label(ADAPTER, item_id))


def settled(world: DoorWorld, name: str, count: int) -> list[Any]:
    """The `name` events handlers got, once `count` arrived, and after a moment for any more."""
    world.wait(lambda: len(world.events(name)) >= count)
    world.wait(lambda: len(world.events(name)) > count, timeout=1.5)
    return world.events(name)


def push_through_the_only_door(world: DoorWorld, item_id: str) -> dict[str, Any]:
    """Create, then update: one issue, as the door's account; its fields and status follow."""
    answer = world.post_item(item_id, {"title": "Only this door", "priority": "High"})
    assert answer.status_code == 200, answer.text
    created = answer.json()["link"]
    [issue] = labelled(world, item_id)
    assert created["issue_key"] == issue["key"]
    assert created["browse_url"] == f"{world.site.url}/browse/{issue['key']}"
    answer = world.post_item(item_id, {"title": "Renamed by the push", "status": "In Progress"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["link"]["issue_key"] == issue["key"]
    [issue] = labelled(world, item_id)
    assert issue["fields"]["summary"] == "Renamed by the push"
    assert issue["fields"]["priority"]["name"] == "High"
    assert issue["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
    return issue


def test_forge_only_site_pushes_and_status_comes_back_without_echo(database_url: str) -> None:
    with door_world(database_url, forge=True) as world:
        issue = push_through_the_only_door(world, "F-1")
        ours = [b for b in world.fake.webhooks if "changelog" in b]
        assert ours and {b["user"]["accountId"] for b in ours} == {APP_ACCOUNT}
        for body in ours:  # the app's own changes, back as Forge events
            world.via_forge(forge_event(body))
        world.fake.edit(world.site.cloud_id, issue["id"], account=APP_ACCOUNT, summary="By app")
        world.via_forge(forge_event(world.fake.webhooks[-1]))
        # Forge marks an event the app's own request caused (selfGenerated): not reported either.
        world.fake.edit(world.site.cloud_id, issue["id"], account=HUMAN, summary="App, for one")
        world.via_forge({**forge_event(world.fake.webhooks[-1]), "selfGenerated": True})
        world.wait(lambda: len(world.events("avi:jira:updated:issue")) >= len(ours) + 2)

        world.fake.transition(world.site.cloud_id, issue["id"], "10000", account=HUMAN)
        human = forge_event(world.fake.webhooks[-1])  # its status without a category
        world.via_forge(human, envelope=True)
        world.via_forge(human, retry=1, envelope=True)  # Forge's retry: a duplicate in the log
        world.via_forge(human)  # the same change in the other envelope: another delivery
        world.fake.edit(world.site.cloud_id, issue["id"], account=HUMAN, summary="By a person")
        world.via_forge(forge_event(world.fake.webhooks[-1]))

        [change] = settled(world, "sync:status_changed", 1)
        assert change.payload["item_id"] == "F-1" and change.payload["previous"] == "In Progress"
        assert change.payload["status"] == "Open"
        assert change.payload["jira_status"] == {"id": "10000", "name": "To Do", "category": "new"}
        assert change.payload["changed_at"] == int(human["timestamp"])
        [edit] = settled(world, "sync:issue_changed", 1)
        assert [(c["field"], c["after"]) for c in edit.payload["changes"]] == [
            ("summary", "By a person")
        ]
        assert ("GET", f"/ex/jira/{world.site.cloud_id}/rest/api/3/status/10000") in (
            world.fake.requests
        )  # the category, asked through the Forge door's client
        assert world.link("F-1").local_status == "Open"  # type: ignore[union-attr]


def test_oauth_only_site_pushes_and_the_connecting_user_s_own_change_comes_back(
    database_url: str,
) -> None:
    with door_world(database_url, oauth=True) as world:
        issue = push_through_the_only_door(world, "O-1")
        answer = world.post_item("O-1", {"description": "Pushed text", "priority": "Urgent"})
        assert answer.status_code == 200, answer.text
        ours = [b for b in world.fake.webhooks if "changelog" in b]
        pushed = {i["field"] for b in ours for i in b["changelog"]["items"]}
        assert {"summary", "description", "priority"} <= pushed
        # On this door the sync acts as the person who connected the site.
        assert ours and {b["user"]["accountId"] for b in ours} == {CONNECTING_USER}
        for body in ours:
            world.via_oauth(body)
        world.wait(lambda: len(world.events("jira:issue_updated")) >= len(ours))

        # That same person, in Jira: reported, not taken for the app's own change.
        world.fake.transition(world.site.cloud_id, issue["id"], "10000", account=CONNECTING_USER)
        reopened = world.fake.webhooks[-1]
        world.via_oauth(reopened, identifier="hook-1")
        world.via_oauth(reopened, identifier="hook-1")  # Jira's retry
        world.fake.edit(world.site.cloud_id, issue["id"], account=CONNECTING_USER, summary="Mine")
        world.via_oauth(world.fake.webhooks[-1])
        world.fake.edit(
            world.site.cloud_id, issue["id"], account=CONNECTING_USER, priority={"id": "4"}
        )
        world.via_oauth(world.fake.webhooks[-1])
        [change] = settled(world, "sync:status_changed", 1)
        assert change.payload["previous"] == "In Progress" and change.payload["status"] == "Open"
        assert change.payload["changed_at"] == reopened["timestamp"]
        # The push's own field edits (summary, description, priority), made as that person, are
        # echoes by their values; that person's later edits are reported.
        edits = settled(world, "sync:issue_changed", 2)
        assert [[(c["field"], c["after"]) for c in e.payload["changes"]] for e in edits] == [
            [("summary", "Mine")],
            [("priority", "Low")],
        ]

        # A change Jira delivered no webhook for, found by the catch-up, reported once.
        since = time.time() - 1
        world.fake.transition(world.site.cloud_id, issue["id"], "10001", account=HUMAN)
        late = world.fake.webhooks[-1]
        assert world.catch_up(since) >= 1
        assert world.catch_up(since) == 0  # found again: already recorded
        world.wait(lambda: world.events("catch-up:issue"))
        world.wait(lambda: len(world.events("sync:status_changed")) >= 2)
        world.via_oauth(late)  # the webhook Jira sends after all, late: not reported again
        world.wait(lambda: len(world.events("jira:issue_updated")) >= len(ours) + 3)
        changes = settled(world, "sync:status_changed", 2)
        assert len(changes) == 2, [c.payload for c in changes]
        caught = changes[-1].payload
        assert caught["status"] == "In Progress" and caught["previous"] == "Open"
        assert caught["jira_status"]["category"] == "indeterminate"
        assert isinstance(caught["changed_at"], int)
        assert world.events("catch-up:issue")
        assert world.link("O-1").local_status == "In Progress"  # type: ignore[union-attr]


def test_one_change_through_connect_oauth_and_forge_is_reported_once(database_url: str) -> None:
    with door_world(database_url, connect=True, forge=True, oauth=True, language="de") as world:
        answer = world.post_item("T-1", {"title": "Three doors", "status": "Resolved"})
        assert answer.status_code == 200, answer.text
        [issue] = labelled(world, "T-1")

        world.fake.transition(world.site.cloud_id, issue["id"], "10000", account=HUMAN)
        human = world.fake.webhooks[-1]
        world.via_connect(human)
        world.via_oauth(human)
        world.via_forge(forge_event(human, with_category=True))
        world.wait(lambda: len(world.events("jira:issue_updated")) >= 2)
        world.wait(lambda: world.events("avi:jira:updated:issue"))
        [change] = settled(world, "sync:status_changed", 1)
        assert change.payload["status"] == "Open" and change.payload["previous"] == "Resolved"
        assert change.payload["jira_status"]["name"] == "Offen"

        # A catch-up of the same issue afterwards finds the status already known: nothing new.
        world.catch_up(time.time() - 60)
        world.wait(lambda: world.events("catch-up:issue"))
        assert len(settled(world, "sync:status_changed", 1)) == 1


@pytest.mark.parametrize("door", ["forge", "oauth"])
def test_a_door_that_cannot_sign_yet_leaves_the_push_queued_with_its_reason(
    database_url: str, door: str
) -> None:
    with door_world(database_url, **{door: True}) as world:
        if door == "forge":  # the system token ran out; the next tick brings another
            world.forget_forge_token()
            reason = "has no unexpired system token"
        else:  # the access token expired, and refreshing it fails
            world.expire_oauth_token()
            reason = "the door could not call Jira (AtlassianError: POST"
        answer = world.post_item("N-1", {"title": "Not yet"})
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["state"] == "pending" and body["link"] is None
        assert reason in body["last_error"], body
        assert ACCESS_TOKEN not in answer.text and "forge-system-token" not in answer.text
        assert labelled(world, "N-1") == []


def test_a_forge_installation_waiting_for_its_token_gives_way_to_the_oauth_connection(
    database_url: str,
) -> None:
    with door_world(database_url, forge=True, oauth=True) as world:
        world.forget_forge_token()
        answer = world.post_item("W-1", {"title": "Through the other door"})
        assert answer.status_code == 200, answer.text
        [issue] = labelled(world, "W-1")
        created = [b for b in world.fake.webhooks if b["issue"]["id"] == issue["id"]]
        assert created[0]["user"]["accountId"] == CONNECTING_USER


def test_a_forge_installation_that_never_said_its_site_url_is_reached_by_it(
    database_url: str,
) -> None:
    # A Forge event's token has no context.siteUrl: the door asks Jira's serverInfo, and keeps it.
    with door_world(database_url, forge=True, forge_site_known=False) as world:
        # An issue event before anything was pushed: its origin already names the site.
        world.via_forge(
            {
                "eventType": "avi:jira:updated:issue",
                "timestamp": str(int(time.time() * 1000)),
                "issue": {"id": "1", "key": "DEV-0", "fields": {}},
                "changelog": {"id": "1", "items": []},
            }
        )
        [before] = world.wait(lambda: world.events("avi:jira:updated:issue"))
        assert before.origin.site_url == world.site.url

        issue = push_through_the_only_door(world, "S-1")
        world.fake.transition(world.site.cloud_id, issue["id"], "10000", account=HUMAN)
        world.via_forge(forge_event(world.fake.webhooks[-1]))
        [change] = settled(world, "sync:status_changed", 1)
        assert change.payload["item_id"] == "S-1" and change.payload["status"] == "Open"
        assert change.payload["site"] == world.site.url
        asked = [p for _, p in world.fake.requests if p.endswith("/serverInfo")]
        assert len(asked) == 1, asked


@pytest.mark.parametrize("door", ["forge", "oauth"])
def test_a_lost_create_answer_is_found_by_its_label_through_the_gateway(
    database_url: str, door: str
) -> None:
    with door_world(database_url, **{door: True}) as world:
        world.fake.fail_next("POST", "/issue$", "kill-after")
        answer = world.post_item("L-1", {"title": "Answer lost"})
        assert answer.status_code == 202, answer.text
        assert len(labelled(world, "L-1")) == 1  # Jira made it; the door did not hear
        link = world.wait(lambda: (lk := world.link("L-1")) and lk.issue_key and lk)
        assert link and link.issue_key == labelled(world, "L-1")[0]["key"]
        search = f"/ex/jira/{world.site.cloud_id}/rest/api/3/search/jql"
        assert ("POST", search) in world.fake.requests  # the label, asked by JQL on this door
        assert len(labelled(world, "L-1")) == 1
