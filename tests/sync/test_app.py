"""The sync in a running add-on (uvicorn on loopback, the fake Jira on another port), on SQLite and
PostgreSQL: pushing through `event.sync` and through `POST /sync/{adapter}/items/{item_id}`, the
outbox retrying, and status coming back through two doors exactly once, without echoes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from addon.jira import DEFAULT_MAX_RETRIES
from addon.simulator._jira_site import APP_ACCOUNT
from addon.sync import OutboxState, SyncStore, sync_label
from addon.web import _sync as web_sync
from tests.sync.app_support import ADAPTER, INSPECTOR, World, read, running_world

HUMAN = "5b10a2844c20165700ede21g"


def labelled(world: World, item_id: str) -> list[dict[str, Any]]:
    return world.fake.issues_labelled(world.site.cloud_id, sync_label(ADAPTER, item_id))


def test_push_through_event_sync_then_http_creates_once_then_updates(database_url: str) -> None:
    with running_world(database_url) as world:
        world.via_source(
            {
                "webhookEvent": "jira:issue_updated",
                "push_item": {"id": "A-1", "title": "Printer on fire", "priority": "High"},
            }
        )
        pushed = world.wait(lambda: list(world.pushed))
        assert pushed and pushed[0].done, pushed
        link = pushed[0].link
        assert link.issue_key == "DEV-1"
        assert link.browse_url == f"{world.jira_url}/browse/DEV-1"
        [issue] = labelled(world, "A-1")
        assert issue["fields"]["summary"] == "Printer on fire"
        assert issue["fields"]["priority"]["name"] == "High"

        answer = world.post_item("A-1", {"title": "Printer still on fire", "status": "Resolved"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["state"] == "done"
        assert body["link"]["issue_key"] == "DEV-1"
        assert body["link"]["browse_url"] == link.browse_url
        [issue] = labelled(world, "A-1")
        assert issue["fields"]["summary"] == "Printer still on fire"
        assert issue["fields"]["status"]["statusCategory"]["key"] == "done"
        assert world.link("A-1").local_status == "Resolved"  # type: ignore[union-attr]


def test_http_endpoint_refuses_clearly(database_url: str) -> None:
    with running_world(database_url) as world:
        no_token = world.post_item("B-1", {"title": "x"}, token=None)
        assert no_token.status_code == 401
        assert no_token.headers["www-authenticate"].startswith("Bearer")
        assert "INSPECTOR_API_TOKEN" in no_token.json()["reason"]
        wrong = world.post_item("B-1", {"title": "x"}, token="not-the-token-" + "y" * 30)
        assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
        assert "not-the-token" not in wrong.text
        cases = [
            (world.post_item("B-1", {"title": "x"}, adapter="nope"), 404, "unknown_adapter"),
            (world.post_item("B-1", b"{not json"), 400, "bad_request"),
            (world.post_item("B-1", ["title"]), 400, "bad_request"),
            (world.post_item("B-1", {"title": "x", "colour": "red"}), 400, "invalid_item"),
            (world.post_item("B-1", {"title": 7}), 400, "invalid_item"),
            (world.post_item("B-1", {"status": "Open"}), 400, "invalid_item"),
            (world.post_item("B-1", {"title": "x", "status": "Weird"}), 422, "unmapped_value"),
        ]
        for answer, status, code in cases:
            assert answer.status_code == status, answer.text
            assert answer.json()["error"] == code, answer.text
            assert answer.json()["reason"]
        assert labelled(world, "B-1") == []


def test_create_retried_after_an_unclear_answer_or_429_never_duplicates(database_url: str) -> None:
    with running_world(database_url) as world:
        world.fake.fail_next("POST", "/issue", "kill-after")
        answer = world.post_item("C-1", {"title": "Broken answer", "status": "Open"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] == "pending"
        assert answer.json()["last_error"]
        assert len(labelled(world, "C-1")) == 1  # Jira made it; we did not hear
        link = world.wait(lambda: (lk := world.link("C-1")) and lk.issue_key and lk)
        assert link and link.issue_key == labelled(world, "C-1")[0]["key"]
        assert len(labelled(world, "C-1")) == 1

        # The door's client waits out a few 429s itself (addon.jira); past them, the outbox does.
        for _ in range(DEFAULT_MAX_RETRIES + 1):
            world.fake.fail_next("POST", "/issue", "429", retry_after="1")
        answer = world.post_item("C-2", {"title": "Rate limited"})
        assert answer.status_code == 202, answer.text
        assert "429" in answer.json()["last_error"]
        link = world.wait(lambda: (lk := world.link("C-2")) and lk.issue_key and lk)
        assert link, "the outbox did not retry after Retry-After"
        assert len(labelled(world, "C-2")) == 1

        shown = httpx.get(f"{world.app_url}/inspector/api/sync", auth=INSPECTOR, timeout=10)
        assert shown.status_code == 200, shown.text
        state = shown.json()
        assert [a["name"] for a in state["adapters"]] == [ADAPTER]
        assert {lk["item_id"]: lk["issue_key"] for lk in state["links"]} == {
            "C-1": labelled(world, "C-1")[0]["key"],
            "C-2": link.issue_key,
        }
        by_item = {e["item_id"]: e for e in state["outbox"]}
        assert by_item["C-2"]["state"] == "done" and by_item["C-2"]["attempts"] >= 2
        page = httpx.get(f"{world.app_url}/inspector/sync", auth=INSPECTOR, timeout=10)
        assert page.status_code == 200
        assert link.issue_key in page.text and "Outbox" in page.text
        assert httpx.get(f"{world.app_url}/inspector/sync", timeout=10).status_code == 401


def _status_changes(world: World) -> list[Any]:
    return world.events("sync:status_changed")


def test_status_comes_back_once_through_two_doors_and_retries_without_echo(
    database_url: str,
) -> None:
    with running_world(database_url, language="de") as world:
        answer = world.post_item("D-1", {"title": "Bring it back", "status": "Resolved"})
        assert answer.status_code == 200, answer.text
        [issue] = labelled(world, "D-1")
        ours = list(world.fake.webhooks)
        assert [b["user"]["accountId"] for b in ours if "changelog" in b] == [APP_ACCOUNT] * 3
        for body in ours:  # our own changes, through the door without the acting-account rule
            world.via_source({**body, "webhookEvent": body["webhookEvent"]})
        world.wait(lambda: len(world.events("jira:issue_updated")) >= 3)

        world.fake.transition(world.site.cloud_id, issue["id"], "10000", account=HUMAN)
        human = world.fake.webhooks[-1]
        world.via_connect(human, identifier="jira-1")
        world.via_connect(human, identifier="jira-1")  # Jira's retry: a duplicate in the log
        world.via_connect(human, identifier="jira-2")  # the same change, delivered again
        world.via_source(human)  # and through the other door
        world.wait(lambda: len(world.events("jira:issue_updated")) >= 6)
        changes = world.wait(lambda: _status_changes(world))
        world.wait(lambda: len(_status_changes(world)) > 1, timeout=2)
        assert len(changes) == 1, [e.payload for e in changes]
        change = changes[0].payload
        assert change["adapter"] == ADAPTER and change["item_id"] == "D-1"
        assert change["previous"] == "Resolved" and change["status"] == "Open"
        assert change["jira_status"] == {"id": "10000", "name": "Offen", "category": "new"}
        assert change["changed_at"] == human["timestamp"]
        assert world.link("D-1").local_status == "Open"  # type: ignore[union-attr]

        # The app's own edit, through Connect where calls act as the app: not reported.
        world.fake.edit(world.site.cloud_id, issue["id"], account=APP_ACCOUNT, summary="By the app")
        world.via_connect(world.fake.webhooks[-1])
        world.fake.edit(world.site.cloud_id, issue["id"], account=HUMAN, summary="Renamed in Jira")
        world.via_connect(world.fake.webhooks[-1])
        edits = world.wait(lambda: world.events("sync:issue_changed"))
        world.wait(lambda: len(world.events("sync:issue_changed")) > 1, timeout=2)
        assert len(edits) == 1, [e.payload for e in edits]
        assert [c["field"] for c in edits[0].payload["changes"]] == ["summary"]
        assert edits[0].payload["changes"][0]["after"] == "Renamed in Jira"

        # A person's move along a transition the sync made earlier is not an echo.
        world.fake.transition(world.site.cloud_id, issue["id"], "10001", account=HUMAN)
        world.via_source(world.fake.webhooks[-1])
        later = world.wait(lambda: len(_status_changes(world)) >= 2 and _status_changes(world))
        assert later and later[-1].payload["status"] == "In Progress"
        assert later[-1].payload["jira_status"]["name"] == "In Arbeit"
        derived = world.deliveries(origin_kind="sync")
        assert {d.event for d in derived} == {"sync:status_changed", "sync:issue_changed"}
        assert world.wait(
            lambda: all(
                str(d.handler_state) == "done" for d in world.deliveries(origin_kind="sync")
            )
        ), [(d.event, d.handler_state) for d in world.deliveries(origin_kind="sync")]
        for shown in derived:  # the inspector shows a derived delivery like any other
            page = httpx.get(
                f"{world.app_url}/inspector/deliveries/{shown.id}", auth=INSPECTOR, timeout=10
            )
            assert page.status_code == 200, page.text
            assert shown.event in page.text
        entries = [e.state for e in _outbox(world)]
        assert entries and set(entries) == {OutboxState.DONE}


def _outbox(world: World) -> list[Any]:
    return read(world.database_url, lambda store: SyncStore(store.db).entries())  # type: ignore[no-any-return]


def test_http_answers_202_when_jira_is_slow_and_the_attempt_goes_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_sync, "ANSWER_WITHIN", 0.0)
    with running_world(database_url) as world:
        answer = world.post_item("E-1", {"title": "Slow Jira", "status": "In Progress"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] in ("pending", "running")
        link = world.wait(lambda: (lk := world.link("E-1")) and lk.local_status and lk)
        assert link and link.issue_key == labelled(world, "E-1")[0]["key"]
        assert len(labelled(world, "E-1")) == 1


def test_the_push_s_own_field_edits_are_not_reported_and_a_person_s_later_edit_is(
    database_url: str,
) -> None:
    with running_world(database_url) as world:
        answer = world.post_item("E-1", {"title": "First title"})
        assert answer.status_code == 200, answer.text
        [issue] = labelled(world, "E-1")
        change = {"title": "Pushed title", "description": "Pushed text", "priority": "Urgent"}
        answer = world.post_item("E-1", change)
        assert answer.status_code == 200, answer.text
        [ours] = [b for b in world.fake.webhooks if "changelog" in b]
        assert {i["field"] for i in ours["changelog"]["items"]} == {
            "summary",
            "description",
            "priority",
        }
        # Through the admin webhook first (where only the values pushed can tell; the same change
        # through Connect after it is a duplicate): not reported.
        world.via_source(ours)
        world.wait(lambda: world.events("jira:issue_updated"))
        world.via_connect(ours, identifier="echo-1")
        world.fake.edit(world.site.cloud_id, issue["id"], account=HUMAN, summary="Pushed title 2")
        world.via_connect(world.fake.webhooks[-1], identifier="human-1")
        world.fake.edit(world.site.cloud_id, issue["id"], account=HUMAN, priority={"id": "5"})
        world.via_source(world.fake.webhooks[-1])
        world.wait(lambda: len(world.events("jira:issue_updated")) >= 4)
        edits = world.wait(lambda: len(world.events("sync:issue_changed")) >= 2 and edits_of(world))
        world.wait(lambda: len(world.events("sync:issue_changed")) > 2, timeout=2)
        assert edits_of(world) == [
            [("summary", "Pushed title 2")],
            [("priority", "Lowest")],
        ], edits


def edits_of(world: World) -> list[list[tuple[str, str]]]:
    return [
        [(c["field"], c["after"]) for c in e.payload["changes"]]
        for e in sorted(world.events("sync:issue_changed"), key=lambda e: e.delivery_id)
    ]


def test_the_inspector_shows_a_failed_change_with_its_last_error(database_url: str) -> None:
    with running_world(database_url) as world:
        world.site.priorities[:] = [
            (pid, name) for pid, name in world.site.priorities if pid != "2"
        ]
        answer = world.post_item("F-1", {"title": "x", "priority": "High"})
        assert answer.status_code == 422, answer.text
        assert "does not have" in answer.json()["reason"]
        [entry] = world.wait(lambda: _outbox(world))
        assert entry.state is OutboxState.FAILED and entry.last_error
        page = httpx.get(f"{world.app_url}/inspector/sync", auth=INSPECTOR, timeout=10)
        assert page.status_code == 200
        assert "chip-outbox-failed" in page.text
        assert "which site" in page.text and "does not have" in page.text
        assert labelled(world, "F-1") == []


def test_sync_of_the_app_pushes_like_event_sync(database_url: str) -> None:
    from addon import Sync, sync_of

    with pytest.raises(RuntimeError, match="has not started"):
        sync_of(object())
    with running_world(database_url) as world:
        assert isinstance(sync_of(world.app), Sync)
        item = {"id": "S-1", "title": "From my own code", "status": "In Progress"}
        world.via_source({"webhookEvent": "x:push", "push_item": item, "through": "sync_of"})
        [pushed] = world.wait(lambda: list(world.pushed))
        assert pushed.done and pushed.link.issue_key == labelled(world, "S-1")[0]["key"]
        assert labelled(world, "S-1")[0]["fields"]["status"]["statusCategory"]["key"] == (
            "indeterminate"
        )
