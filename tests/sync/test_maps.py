"""Status and priority maps: defaults, parsing with clear errors, and mapping back."""

from __future__ import annotations

import pytest

from addon.sync import (
    DEFAULT_PRIORITIES,
    DEFAULT_STATUSES,
    MapError,
    StatusTarget,
    local_status_for,
    parse_priorities,
    parse_statuses,
)


def test_the_defaults() -> None:
    assert {k: str(v) for k, v in DEFAULT_STATUSES.items()} == {
        "Open": "new",
        "In Progress": "indeterminate",
        "Resolved": "done",
        "Closed": "done",
    }
    assert dict(DEFAULT_PRIORITIES) == {
        "Low": "Low",
        "Medium": "Medium",
        "High": "High",
        "Urgent": "Highest",
    }


def test_statuses_by_category_key_and_optional_status_id() -> None:
    parsed = parse_statuses(" Open=new, Doing=indeterminate/10001 ,Done=done,")
    assert parsed == {
        "Open": StatusTarget("new"),
        "Doing": StatusTarget("indeterminate", "10001"),
        "Done": StatusTarget("done"),
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Open=To Do", "'To Do' is not a status category key"),
        ("Done=Fertig", "never the localised names"),
        ("Open=undefined", "not a status category key"),
        ("Open", "is not LOCAL=JIRA"),
        ("=new", "is not LOCAL=JIRA"),
        ("Open=new,Open=done", "mapped twice"),
        ("Done=done/abc", "a status id is a number"),
        (" , ", "empty"),
        ("x" * 101 + "=new", "at most 100"),
    ],
)
def test_bad_status_maps_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(MapError, match="--statuses") as refused:
        parse_statuses(text)
    assert says in str(refused.value)


def test_priorities() -> None:
    assert parse_priorities("Urgent=Blocker, Low=Minor") == {"Urgent": "Blocker", "Low": "Minor"}
    with pytest.raises(MapError, match="--priorities: 'Urgent' is not LOCAL=JIRA"):
        parse_priorities("Urgent")


def test_mapping_back_prefers_a_specific_status_then_the_first_of_its_category() -> None:
    statuses = parse_statuses("Open=new,Review=indeterminate/10002,Doing=indeterminate,Done=done")
    assert local_status_for(statuses, "indeterminate", "10002") == "Review"
    assert local_status_for(statuses, "indeterminate", "10001") == "Doing"
    assert local_status_for(DEFAULT_STATUSES, "done", "10003") == "Resolved"
    assert local_status_for(DEFAULT_STATUSES, "undefined", "10004") is None
