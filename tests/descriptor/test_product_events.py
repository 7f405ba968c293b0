"""The Forge product events in the catalogue: names, Connect counterparts, scopes, payload keys."""

from __future__ import annotations

import json

import pytest

from descriptor import (
    context_values,
    events,
    lookup,
    main_keys,
    product_event,
    product_event_for,
    product_events,
)
from tests.conftest import unavailable
from tests.support.forge import VALIDATOR

ACTOR = "4ad9aa0c52dc1b420a791d12"
ISSUE = {
    "id": "10073",
    "key": "SP-10",
    "fields": {"summary": "A title", "project": {"id": "10000", "key": "SP"}},
}


def test_the_issue_and_comment_events_of_issue_18() -> None:
    assert product_event_for("jira:issue_created") is product_event("avi:jira:created:issue")
    assert product_event_for("jira:issue_updated") is product_event("avi:jira:updated:issue")
    assert product_event_for("jira:issue_deleted") is product_event("avi:jira:deleted:issue")
    commented = product_event("avi:jira:commented:issue")
    assert product_event_for("comment_created") is commented
    assert product_event_for("comment_updated") is commented
    assert product_event_for("comment_deleted") is product_event("avi:jira:deleted:comment")


def test_exact_equivalence_is_one_to_one_and_commented_is_exact_for_none() -> None:
    updated = product_event("avi:jira:updated:issue")
    assert updated is not None and updated.equivalent == "jira:issue_updated"
    commented = product_event("avi:jira:commented:issue")
    assert commented is not None and commented.equivalent is None
    assert commented.covers == ("comment_created", "comment_updated")
    exact = [event.equivalent for event in product_events() if event.equivalent is not None]
    assert len(exact) == len(set(exact))
    for event in product_events():
        if event.equivalent is not None:
            assert event.covers == (event.equivalent,)


def test_every_counterpart_is_a_connect_event_and_every_name_a_forge_one() -> None:
    connect = {event.name for event in events()}
    for event in product_events():
        assert event.name.startswith(("avi:jira:", "avi:jira-software:")), event.name
        assert lookup(event.name) is None  # a Forge name is never a Connect webhook event
        assert set(event.covers) <= connect, event.name
        assert event.scopes


def test_connect_events_without_a_forge_counterpart() -> None:
    for name in ("jira:worklog_updated", "connect_addon_enabled", "option_attachments_changed"):
        assert product_event_for(name) is None


def test_the_scopes_and_names_are_the_validators_own() -> None:
    """Each event is in @forge/manifest's event-to-scope mapping with these classic scopes."""
    mapping_file = VALIDATOR / "node_modules/@forge/manifest/out/mapping"
    mapping_file = mapping_file / "product-event-to-scope-mapping.json"
    if not mapping_file.is_file():
        unavailable("@forge/manifest", f"run `bash scripts/test` (npm ci in {VALIDATOR})")
    mapping = {
        entry["productEvent"]: entry["oAuthScopes"]["current"]
        for entry in json.loads(mapping_file.read_text("utf-8"))["mapping"]
    }
    for event in product_events():
        assert event.name in mapping, event.name
        assert set(event.scopes) == set(mapping[event.name]), event.name


def test_normalised_keys_of_an_issue_event() -> None:
    payload = {"eventType": "avi:jira:updated:issue", "issue": ISSUE, "atlassianId": ACTOR}
    assert main_keys("avi:jira:updated:issue", payload) == {
        "issue_key": "SP-10",
        "project_key": "SP",
        "sprint_id": None,
        "actor_account_id": ACTOR,
        "actor": ACTOR,
    }
    assert context_values("avi:jira:updated:issue", payload) == {
        "issue.key": "SP-10",
        "issue.id": "10073",
        "project.key": "SP",
        "project.id": "10000",
    }


def test_normalised_keys_of_a_comment_event() -> None:
    comment = {"id": "10200", "author": {"accountId": "someone-else"}}
    payload = {"issue": ISSUE, "atlassianId": ACTOR, "comment": comment}
    keys = main_keys("avi:jira:commented:issue", payload)
    assert (keys["issue_key"], keys["project_key"], keys["actor"]) == ("SP-10", "SP", ACTOR)
    assert context_values("avi:jira:commented:issue", payload)["comment.id"] == "10200"
    assert context_values("avi:jira:deleted:comment", payload)["comment.id"] == "10200"


def test_normalised_keys_of_a_sprint_event() -> None:
    payload = {"sprint": {"id": 37, "originBoardId": 4}, "atlassianId": ACTOR}
    keys = main_keys("avi:jira-software:started:sprint", payload)
    assert keys["sprint_id"] == "37"
    assert keys["actor"] == ACTOR
    assert context_values("avi:jira-software:started:sprint", payload) == {
        "sprint.id": "37",
        "board.id": "4",
    }


@pytest.mark.parametrize(
    ("event", "payload", "actor"),
    [
        ("avi:jira:created:worklog", {"worklog": {"author": {"accountId": "w"}}}, "w"),
        ("avi:jira:created:project", {"project": {"key": "SP"}, "atlassianId": ACTOR}, ACTOR),
        ("avi:jira:updated:user", {"user": {"accountId": "subject"}}, None),
    ],
)
def test_the_actor_of_other_events(event: str, payload: dict[str, object], actor: str) -> None:
    assert main_keys(event, payload)["actor"] == actor
