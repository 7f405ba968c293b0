"""The normalised view's main keys: issue, project, sprint and actor, from real and odd bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from descriptor import events, main_keys

DATA = Path(__file__).parents[1] / "data" / "jira"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["issue", "key", "id", "0", "user", "fields"]), children)
    ),
    max_leaves=20,
)


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def keys(
    issue: str | None = None,
    project: str | None = None,
    sprint: str | None = None,
    account: str | None = None,
    actor: str | None = None,
) -> dict[str, str | None]:
    return {
        "issue_key": issue,
        "project_key": project,
        "sprint_id": sprint,
        "actor_account_id": account,
        "actor": actor,
    }


MAIN_CASES = [
    (
        "jira_issue_created__mattermost-cloud-many-fields.json",
        keys("KT-22", "KT", account="5cedcb4355a88a0fc86388ba", actor="5cedcb4355a88a0fc86388ba"),
    ),
    (
        "jira_issue_updated__mattermost-cloud-assigned-empty-changelog.json",
        keys("TEST-123", "TEST", account="123456", actor="123456"),
    ),
    ("jira_issue_created__jenkins-jira-trigger-server.json", keys("TEST-4", "TEST", actor="admin")),
    ("jira_issue_updated__jira-to-matrix-server-commented.json", keys("BBCOM-956", "BBCOM")),
    (
        "comment_created__mattermost-cloud-mention.json",
        keys("TES-41", "TES", account="5c5f880629be9642ba529340", actor="5c5f880629be9642ba529340"),
    ),
    ("comment_deleted__mattermost-cloud.json", keys("KT-7", "KT")),
    ("comment_created__mattermost-server.json", keys(actor="levbrouk")),
    ("comment_updated__mattermost-server.json", keys(actor="levbrouk")),
    (
        "worklog_created__zulip.json",
        keys(
            account="99:27935d01-92a7-4687-8272-a9b8d3b2ae2e",
            actor="99:27935d01-92a7-4687-8272-a9b8d3b2ae2e",
        ),
    ),
    ("worklog_deleted__zulip.json", keys()),
    ("jira_worklog_updated__zulip-server-edited.json", keys("SCRUM-23", actor="admin")),
    ("jira_version_released__putit-core.json", keys()),
    (
        "attachment_created__zulip-semisynthetic.json",
        keys("BUG-15", account="5c76b994e1bcdf6294d0eb0f", actor="5c76b994e1bcdf6294d0eb0f"),
    ),
    ("project_created__jira-to-matrix-logwrapped.json", keys(project="DTP")),
]


@pytest.mark.parametrize(("name", "expected"), MAIN_CASES, ids=[c[0] for c in MAIN_CASES])
def test_main_keys_from_real_bodies(name: str, expected: dict[str, str | None]) -> None:
    payload = load(name)
    assert main_keys(payload["webhookEvent"], payload) == expected


def test_the_user_of_a_user_event_is_its_subject_not_its_actor() -> None:
    payload = {"user": {"accountId": "5b10:abc", "name": "ada", "key": "ada"}}
    assert main_keys("user_updated", payload) == keys()


def test_an_updated_comment_is_attributed_to_its_last_editor() -> None:
    comment = {"author": {"accountId": "a"}, "updateAuthor": {"accountId": "b"}}
    assert main_keys("comment_updated", {"comment": comment})["actor"] == "b"
    assert main_keys("comment_created", {"comment": comment})["actor"] == "a"
    assert main_keys("comment_deleted", {"comment": comment})["actor"] is None


def test_main_keys_of_agile_bodies() -> None:
    assert main_keys("sprint_closed", {"sprint": {"id": 192, "originBoardId": 81}}) == keys(
        sprint="192"
    )
    location = {"type": "project", "key": "DEV", "id": "10642"}
    config = {"configuration": {"id": 81, "location": location}}
    assert main_keys("board_configuration_changed", config) == keys(project="DEV")
    user_board = {"configuration": {"location": {"type": "user", "key": "ada"}}}
    assert main_keys("board_configuration_changed", user_board) == keys()


def test_main_keys_of_an_unknown_event_is_a_best_effort() -> None:
    payload = {"issue": {"key": "DEV-1"}, "project": {"key": "DEV"}, "user": {"name": "ada"}}
    assert main_keys("jira:something_new", payload) == keys("DEV-1", "DEV", actor="ada")


@given(
    event=st.sampled_from([event.name for event in events()] + ["unknown"]),
    payload=json_values,
)
def test_main_keys_never_raises_and_has_every_key(event: str, payload: object) -> None:
    found = main_keys(event, payload)
    assert list(found) == ["issue_key", "project_key", "sprint_id", "actor_account_id", "actor"]
    assert all(value is None or isinstance(value, str) for value in found.values())
