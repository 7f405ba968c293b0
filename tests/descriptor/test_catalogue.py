"""The event catalogue, checked against real Jira bodies (tests/data/jira, see its NOTICE.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from descriptor import Event, closest, context_values, events, lookup, value_at

DATA = Path(__file__).parents[1] / "data" / "jira"

RESOURCES = {
    "issue", "comment", "worklog", "issuelink", "sprint", "board", "version", "project", "user",
    "attachment", "addon", "option", "property", "issuetype", "filter", "expression",
}  # fmt: skip

DOCUMENTED = [
    "jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
    "comment_created", "comment_updated", "comment_deleted",
    "worklog_created", "worklog_updated", "worklog_deleted", "jira:worklog_updated",
    "jira:version_created", "jira:version_updated", "jira:version_deleted", "jira:version_released",
    "jira:version_unreleased", "jira:version_moved", "jira:version_merged",
    "project_created", "project_updated", "project_deleted", "project_soft_deleted",
    "project_restored_deleted", "project_archived", "project_restored_archived",
    "user_created", "user_updated", "user_deleted",
    "option_voting_changed", "option_watching_changed", "option_unassigned_issues_changed",
    "option_subtasks_changed", "option_attachments_changed", "option_issuelinks_changed",
    "option_timetracking_changed", "option_timetracking_provider_changed",
    "issuelink_created", "issuelink_deleted", "attachment_created", "attachment_deleted",
    "issue_property_set", "issue_property_deleted",
    "issuetype_created", "issuetype_updated", "issuetype_deleted",
    "filter_created", "filter_updated", "filter_deleted",
    "sprint_created", "sprint_updated", "sprint_deleted", "sprint_started", "sprint_closed",
    "board_created", "board_updated", "board_deleted", "board_configuration_changed",
    "connect_addon_enabled", "connect_addon_disabled",
    "app_access_to_objects_blocked", "app_access_to_objects_in_container_blocked",
    "jira_expression_evaluation_failed",
]  # fmt: skip

ISSUE_PARAMETERS = {"issue.id", "issue.key", "project.id", "project.key"}


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def test_every_documented_event_is_in_the_catalogue_once() -> None:
    names = [event.name for event in events()]
    assert sorted(names) == sorted(DOCUMENTED)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("event", events(), ids=lambda event: event.name)
def test_event_record_is_consistent(event: Event) -> None:
    assert event.resource in RESOURCES
    assert event.action and event.description
    assert lookup(event.name) is event
    assert tuple(event.sources) == event.parameters
    assert all(isinstance(path, str) for paths in event.sources.values() for path in paths)


def test_only_issue_and_comment_events_take_a_jql_filter() -> None:
    assert {event.name for event in events() if event.supports_filter} == {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
    }


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("jira:issue_updated", ISSUE_PARAMETERS),
        ("comment_created", ISSUE_PARAMETERS),
        ("worklog_created", {"issue.id"}),
        ("jira:version_released", {"project.id", "project.key", "version.id"}),
        ("jira:version_merged", {"project.id", "project.key", "version.id", "mergedVersion.id"}),
        ("project_archived", {"project.id", "project.key"}),
        ("user_deleted", {"modifiedUser.accountId", "modifiedUser.name", "modifiedUser.key"}),
        ("sprint_started", {"sprint.id", "board.id"}),
        ("board_configuration_changed", {"board.id"}),
        ("attachment_created", {"issue.id", "issue.key"}),
        ("issuelink_created", set()),
        ("option_voting_changed", set()),
        ("connect_addon_enabled", set()),
    ],
)
def test_context_parameters_per_event(name: str, parameters: set[str]) -> None:
    event = lookup(name)
    assert event is not None
    assert set(event.parameters) == parameters


def test_comment_id_is_not_offered() -> None:
    assert all("comment.id" not in event.parameters for event in events())


def test_version_events_get_project_key_from_jira_not_the_body() -> None:
    event = lookup("jira:version_created")
    assert event is not None
    assert event.sources["project.key"] == ()
    assert event.sources["project.id"] == ("version.projectId",)


def test_events_are_frozen_and_hashable() -> None:
    event = lookup("jira:issue_created")
    assert event is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.sources["issue.id"] = ("x",)  # type: ignore[index]
    assert {event: 1}[event] == 1


def test_event_refuses_sources_for_undeclared_parameters() -> None:
    with pytest.raises(ValueError, match="undeclared"):
        Event("x", "issue", "created", ("issue.id",), {"issue.key": ("issue.key",)}, False, "x")


def test_lookup_of_an_unknown_name_is_none() -> None:
    assert lookup("jira:issue_udpated") is None
    assert lookup("") is None


@pytest.mark.parametrize(
    ("typo", "first"),
    [
        ("jira:issue_udpated", "jira:issue_updated"),
        ("issue_updated", "jira:issue_updated"),
        ("JIRA:ISSUE_CREATED", "jira:issue_created"),
        ("sprint_start", "sprint_started"),
        ("version_released", "jira:version_released"),
        ("comment_create", "comment_created"),
    ],
)
def test_closest_suggests_the_intended_name_first(typo: str, first: str) -> None:
    suggestions = closest(typo)
    assert suggestions[0] == first
    assert len(suggestions) <= 3


def test_closest_respects_n_and_finds_nothing_for_nonsense() -> None:
    assert len(closest("issue_updated", n=1)) == 1
    assert closest("issue_updated", n=0) == []
    assert closest("zzzzzzzz") == []


PAYLOAD = {
    "issue": {"id": "10001", "key": "DEV-1", "fields": {"project": {"id": 10000, "key": "DEV"}}},
    "flag": True,
    "ratio": 1.5,
    "empty": "",
    "none": None,
    "items": [{"id": 7}, "x"],
    "huge": 10**5000,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("issue.id", "10001"),
        ("issue.key", "DEV-1"),
        ("issue.fields.project.key", "DEV"),
        ("issue.fields.project.id", "10000"),
        ("items.0.id", "7"),
        ("items.1", "x"),
        ("items.2", None),
        ("items.-1", None),
        ("items.x", None),
        ("items.0.id.deeper", None),
        ("issue", None),
        ("issue.fields", None),
        ("issue.missing", None),
        ("issue.key.more", None),
        ("flag", None),
        ("ratio", None),
        ("empty", None),
        ("none", None),
        ("huge", None),
        ("", None),
        ("..", None),
    ],
)
def test_value_at(path: str, expected: str | None) -> None:
    assert value_at(PAYLOAD, path) == expected


@pytest.mark.parametrize("payload", [None, 1, "issue", [], ["issue"], b"x", {1: 2}, {"issue": []}])
def test_value_at_tolerates_any_payload(payload: object) -> None:
    assert value_at(payload, "issue.key") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["issue", "key", "id", "0", "user", "fields"]), children)
    ),
    max_leaves=20,
)


@given(payload=json_values, path=st.text(max_size=30))
def test_value_at_never_raises(payload: object, path: str) -> None:
    value = value_at(payload, path)
    assert value is None or (isinstance(value, str) and value)


CONTEXT_CASES = [
    (
        "jira_issue_created__mattermost-cloud-many-fields.json",
        {"issue.id": "10509", "issue.key": "KT-22", "project.id": "10008", "project.key": "KT"},
    ),
    (
        "jira_issue_created__jenkins-jira-trigger-server.json",
        {"issue.id": "10003", "issue.key": "TEST-4", "project.id": "10000", "project.key": "TEST"},
    ),
    (
        "comment_created__mattermost-cloud-mention.json",
        {"issue.id": "10040", "issue.key": "TES-41", "project.id": "10000", "project.key": "TES"},
    ),
    (
        "comment_deleted__mattermost-cloud.json",
        {"issue.id": "10357", "issue.key": "KT-7", "project.id": "10008", "project.key": "KT"},
    ),
    ("comment_created__mattermost-server.json", {}),
    ("worklog_created__zulip.json", {"issue.id": "10014"}),
    ("worklog_deleted__zulip.json", {"issue.id": "10014"}),
    (
        "jira_worklog_updated__zulip-server-edited.json",
        {"issue.id": "10022", "issue.key": "SCRUM-23"},
    ),
    ("jira_version_released__putit-core.json", {"version.id": "10000", "project.id": "10002"}),
    ("attachment_created__zulip-semisynthetic.json", {"issue.id": "10000", "issue.key": "BUG-15"}),
    (
        "project_created__jira-to-matrix-logwrapped.json",
        {"project.id": "10181", "project.key": "DTP"},
    ),
]


@pytest.mark.parametrize(("name", "expected"), CONTEXT_CASES, ids=[c[0] for c in CONTEXT_CASES])
def test_context_values_from_real_bodies(name: str, expected: dict[str, str]) -> None:
    payload = load(name)
    assert context_values(payload["webhookEvent"], payload) == expected


def test_context_values_of_our_own_agile_and_user_bodies() -> None:
    sprint = {"webhookEvent": "sprint_started", "sprint": {"id": 31, "originBoardId": 4}}
    assert context_values("sprint_started", sprint) == {"sprint.id": "31", "board.id": "4"}
    config = {"configuration": {"id": 4, "location": {"type": "project", "key": "DEV"}}}
    assert context_values("board_configuration_changed", config) == {"board.id": "4"}
    assert context_values("board_deleted", {"board": {"id": 9}}) == {"board.id": "9"}
    user = {"user": {"accountId": "5b10:abc", "displayName": "Ada"}}
    assert context_values("user_created", user) == {"modifiedUser.accountId": "5b10:abc"}
    merged = {"version": {"id": "2", "projectId": 3}, "mergedVersion": {"id": "1"}}
    assert context_values("jira:version_merged", merged) == {
        "version.id": "2",
        "project.id": "3",
        "mergedVersion.id": "1",
    }


def test_context_values_of_an_unknown_event_or_odd_body_is_empty() -> None:
    assert context_values("jira:issue_udpated", load(CONTEXT_CASES[0][0])) == {}
    assert context_values("jira:issue_created", None) == {}
    assert context_values("jira:issue_created", ["issue"]) == {}
