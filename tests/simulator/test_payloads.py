"""The built-in example bodies: one per catalogue event, carrying what the URL templates need."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

import descriptor
from addon.simulator import SimulatorError, example_events, read_payload_file
from addon.simulator._payloads import EXAMPLE_SITE_URL, build_payload, load_example

CATALOGUE = [event.name for event in descriptor.events()]
DEPRECATED = {"modifiedUser.name", "modifiedUser.key"}
EXAMPLES = resources.files("addon").joinpath("_data", "examples")


def test_every_catalogue_event_has_an_example() -> None:
    assert example_events() == CATALOGUE


def test_every_example_file_is_a_catalogue_event() -> None:
    names = {entry.name for entry in EXAMPLES.iterdir() if entry.name.endswith(".json")}
    assert names == {event.replace(":", "_") + ".json" for event in CATALOGUE}


@pytest.mark.parametrize("event", CATALOGUE)
def test_an_example_is_a_body_of_its_event(event: str) -> None:
    payload = load_example(event)
    assert payload["webhookEvent"] == event
    assert isinstance(payload["timestamp"], int)
    sites = set(re.findall(r"https://[a-z0-9-]+\.atlassian\.net", json.dumps(payload)))
    assert sites <= {EXAMPLE_SITE_URL}


@pytest.mark.parametrize("event", CATALOGUE)
def test_an_example_carries_every_context_parameter_the_body_can_hold(event: str) -> None:
    known = descriptor.lookup(event)
    assert known is not None
    wanted = {p for p in known.parameters if known.sources[p] and p not in DEPRECATED}
    assert wanted <= set(descriptor.context_values(event, load_example(event)))


def test_issue_events_name_issue_prj_1_in_project_prj() -> None:
    values = descriptor.context_values("jira:issue_updated", load_example("jira:issue_updated"))
    assert values == {
        "issue.key": "PRJ-1",
        "issue.id": "10001",
        "project.key": "PRJ",
        "project.id": "10000",
    }


def test_the_examples_describe_one_site() -> None:
    ids = {
        event: descriptor.context_values(event, load_example(event)).get("issue.id")
        for event in CATALOGUE
    }
    assert {value for value in ids.values() if value} == {"10001"}


def test_a_built_payload_is_current_and_on_the_simulated_site() -> None:
    built = build_payload(
        "jira:issue_updated", site_url="https://dev-box.atlassian.net/", now=1_800_000_000.5
    )
    assert built.payload["timestamp"] == 1_800_000_000_500
    text = json.dumps(built.payload)
    assert EXAMPLE_SITE_URL not in text
    assert built.payload["issue"]["self"] == "https://dev-box.atlassian.net/rest/api/2/issue/10001"
    assert built.notes == ()
    assert load_example("jira:issue_updated")["issue"]["self"].startswith(EXAMPLE_SITE_URL)


def test_an_issue_key_sets_the_project_from_its_prefix() -> None:
    built = build_payload("comment_created", issue="DEV-7")
    values = descriptor.context_values("comment_created", built.payload)
    assert values["issue.key"] == "DEV-7" and values["project.key"] == "DEV"


def test_a_project_key_re_prefixes_the_issue_key() -> None:
    built = build_payload("jira:issue_created", project="OPS")
    values = descriptor.context_values("jira:issue_created", built.payload)
    assert values["issue.key"] == "OPS-1" and values["project.key"] == "OPS"


def test_both_keys_are_taken_as_given() -> None:
    built = build_payload("jira:issue_deleted", issue="ABC-12", project="XYZ")
    values = descriptor.context_values("jira:issue_deleted", built.payload)
    assert (values["issue.key"], values["project.key"]) == ("ABC-12", "XYZ")


def test_a_project_event_takes_the_project_key() -> None:
    built = build_payload("project_updated", project="OPS")
    assert built.payload["project"]["key"] == "OPS"
    assert built.notes == ()


def test_keys_the_body_has_no_place_for_are_reported() -> None:
    built = build_payload("sprint_started", issue="DEV-7", project="DEV")
    assert built.notes == (
        "sprint_started carries no issue key; --issue DEV-7 was not applied",
        "sprint_started carries no project key; --project DEV was not applied",
    )
    assert built.payload == build_payload("sprint_started", now=0).payload | {
        "timestamp": built.payload["timestamp"]
    }


def test_a_given_payload_is_sent_as_given_but_for_the_keys() -> None:
    given = {"timestamp": 5, "webhookEvent": "jira:issue_updated", "issue": {"key": "A-1"}}
    built = build_payload("jira:issue_updated", given, issue="B-2", site_url="https://x.example")
    assert built.payload == {
        "timestamp": 5,
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": "B-2"},
    }
    assert given["issue"] == {"key": "A-1"}


def test_an_event_without_an_example_asks_for_a_payload() -> None:
    with pytest.raises(SimulatorError, match="--payload"):
        load_example("custom_event")


def test_payload_files_must_be_json_objects(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"webhookEvent": "x"}')
    assert read_payload_file(str(good)) == {"webhookEvent": "x"}
    for name, content in (("list.json", "[]"), ("broken.json", "{")):
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(SimulatorError, match="--payload"):
            read_payload_file(str(path))
    with pytest.raises(SimulatorError, match="cannot read"):
        read_payload_file(str(tmp_path / "missing.json"))
