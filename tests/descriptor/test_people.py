"""`people_of`: the acting account and, for issue events, assignee and reporter, from real payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from descriptor import EventPeople, people_of

DATA = Path(__file__).resolve().parents[1] / "data" / "jira"


def payload(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("event", "file", "expected"),
    [
        (
            "jira:issue_created",
            "jira_issue_created__mattermost-cloud-many-fields.json",
            EventPeople(
                "5cedcb4355a88a0fc86388ba", "5cedcb4355a88a0fc86388ba", "5cedcb4355a88a0fc86388ba"
            ),
        ),
        (
            "jira:issue_updated",
            "jira_issue_updated__mattermost-cloud-assigned-empty-changelog.json",
            EventPeople("123456", "789012", None),
        ),
        (
            "jira:issue_deleted",
            "jira_issue_deleted__mattermost-cloud.json",
            EventPeople("5c5f880629be9642ba529340", None, "5c5f880629be9642ba529340"),
        ),
        (  # Data Center names users without an accountId
            "jira:issue_updated",
            "jira_issue_updated__jenkins-jira-trigger-server-status.json",
            EventPeople(None, None, None),
        ),
        (  # comment.author; a comment event has no assignee or reporter of its own
            "comment_created",
            "comment_created__mattermost-cloud-mention.json",
            EventPeople("5c5f880629be9642ba529340"),
        ),
        (  # the comment's author is not who deleted it
            "comment_deleted",
            "comment_deleted__mattermost-cloud.json",
            EventPeople(None),
        ),
        (
            "worklog_created",
            "worklog_created__zulip.json",
            EventPeople("99:27935d01-92a7-4687-8272-a9b8d3b2ae2e"),
        ),
    ],
)
def test_real_payloads(event: str, file: str, expected: EventPeople) -> None:
    assert people_of(event, payload(file)) == expected


def test_forge_names_the_actor_in_atlassian_id() -> None:
    issue = {
        "id": "10001",
        "key": "ABC-1",
        "fields": {"assignee": {"accountId": "assignee-1"}, "reporter": {"accountId": "rep-1"}},
    }
    body = {"eventType": "avi:jira:updated:issue", "atlassianId": "actor-1", "issue": issue}
    assert people_of("avi:jira:updated:issue", body) == EventPeople(
        "actor-1", "assignee-1", "rep-1"
    )
    comment = {"atlassianId": "actor-2", "issue": issue, "comment": {"id": "1"}}
    assert people_of("avi:jira:commented:issue", comment).actor == "actor-2"


@pytest.mark.parametrize("body", [None, [], "text", {"user": "nobody"}, {"issue": {"fields": 3}}])
def test_never_raises_on_odd_payloads(body: object) -> None:
    assert people_of("jira:issue_updated", body) == EventPeople(None, None, None)
    assert people_of("no_such_event", body).actor is None
