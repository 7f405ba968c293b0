"""Rendering the descriptor template, the default template's shape, and reading modules back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from descriptor import (
    DEFAULT_TEMPLATE_PATH,
    DescriptorError,
    UrlTemplate,
    WebhookModule,
    check_descriptor,
    events,
    lifecycle_paths,
    lookup,
    parse_webhooks,
    render_descriptor,
)

ROOT_TEMPLATE = Path(__file__).parents[2] / "atlassian-connect.json.j2"

SETTINGS: dict[str, object] = {
    "base_url": "https://example.com",
    "key": "my-addon",
    "name": "My add-on",
    "description": "Development activity from Jira.",
    "vendor_name": "Example",
    "vendor_url": "https://example.com/about",
}

DEVELOPMENT_EVENTS = [
    "jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
    "comment_created", "comment_updated", "comment_deleted",
    "worklog_created", "worklog_updated", "worklog_deleted",
    "issuelink_created", "issuelink_deleted",
    "sprint_created", "sprint_updated", "sprint_deleted", "sprint_started", "sprint_closed",
    "board_created", "board_updated", "board_deleted", "board_configuration_changed",
    "jira:version_created", "jira:version_updated", "jira:version_deleted",
    "jira:version_released", "jira:version_unreleased", "jira:version_moved",
    "jira:version_merged",
    "project_created", "project_updated", "project_deleted",
    "user_created", "user_updated", "user_deleted",
    "attachment_created", "attachment_deleted",
]  # fmt: skip
DEPRECATED_PARAMETERS = {"modifiedUser.name", "modifiedUser.key"}


def default(**overrides: object) -> dict[str, Any]:
    return render_descriptor(DEFAULT_TEMPLATE_PATH.read_text("utf-8"), {**SETTINGS, **overrides})


def test_the_package_template_is_the_repository_template() -> None:
    assert DEFAULT_TEMPLATE_PATH.name == "default.json.j2"
    assert DEFAULT_TEMPLATE_PATH.parent.name == "descriptor"
    assert DEFAULT_TEMPLATE_PATH.read_bytes() == ROOT_TEMPLATE.read_bytes()


def test_the_template_header_explains_the_encoding() -> None:
    header = DEFAULT_TEMPLATE_PATH.read_text("utf-8").split("-#}", 1)[0]
    assert header.startswith("{#")
    assert "JSON-encoded" in header
    assert '{{ base_url ~ "/x" }}' in header


@pytest.mark.parametrize(
    "value",
    [
        'Say "hi"',
        "back\\slash \\u0041 \\n",
        "two\nlines\r\n\ttab",
        "control \x00\x01\x1f\x7f",
        "ünïcödé 漢字 \u2028\u2029",
        "emoji 🎉🧑‍💻",
        "</script>{{ not jinja }}{% raw %}",
        "",
        "'single' `tick` ${issue.key}",
    ],
)
def test_unusual_settings_render_to_valid_json(value: str) -> None:
    descriptor = default(name=value, description=value, vendor_name=value)
    assert descriptor["name"] == value
    assert descriptor["description"] == value
    assert descriptor["vendor"]["name"] == value


@pytest.mark.parametrize(
    "base_url",
    ["https://example.com/jira-addon", "https://example.com:8443/a/b/", "http://localhost:8000"],
)
def test_base_url_with_a_path_prefix(base_url: str) -> None:
    descriptor = default(base_url=base_url)
    assert descriptor["baseUrl"] == base_url
    assert check_descriptor(descriptor).errors == ()


def test_expressions_are_json_encoded_whatever_their_type() -> None:
    source = '{"n": {{ n }}, "b": {{ b }}, "z": {{ z }}, "l": {{ l }}, "s": {{ base ~ "/x" }}}'
    context = {"n": 3, "b": True, "z": None, "l": ["a", 1], "base": 'q"'}
    assert render_descriptor(source, context) == {
        "n": 3,
        "b": True,
        "z": None,
        "l": ["a", 1],
        "s": 'q"/x',
    }


def test_values_json_cannot_encode_are_written_as_text() -> None:
    assert render_descriptor('{"p": {{ p }}}', {"p": Path("/a")}) == {"p": "/a"}


def test_a_value_not_given_is_an_error() -> None:
    with pytest.raises(DescriptorError, match="'base_url' is undefined"):
        render_descriptor('{"baseUrl": {{ base_url ~ "/x" }}}', {})
    with pytest.raises(DescriptorError, match="'key' is undefined"):
        render_descriptor('{"key": {{ key }}}', {})


def test_a_failing_expression_is_a_descriptor_error() -> None:
    with pytest.raises(DescriptorError, match="an expression failed"):
        render_descriptor('{"n": {{ 1 // zero }}}', {"zero": 0})
    with pytest.raises(DescriptorError, match="descriptor template: "):
        render_descriptor('{"n": {{ items[3] }}}', {"items": []})


def test_a_template_syntax_error_names_its_line() -> None:
    with pytest.raises(DescriptorError, match="line 2"):
        render_descriptor("{\n{{ key }\n}", {"key": "k"})


def test_output_that_is_not_json_names_line_and_column() -> None:
    with pytest.raises(DescriptorError, match=r"not JSON: .* line 3, column 12") as caught:
        render_descriptor('{\n  "a": 1,\n  "key": "{{ key }}"\n}', {"key": "k"})
    assert isinstance(caught.value, ValueError)
    assert '"key": ""k""' in str(caught.value)


@pytest.mark.parametrize("source", ["[1, 2]", '"text"', "3", "null"])
def test_output_must_be_an_object(source: str) -> None:
    with pytest.raises(DescriptorError, match="must be a JSON object"):
        render_descriptor(source, {})


def test_default_descriptor_top_level() -> None:
    descriptor = default()
    assert descriptor["key"] == "my-addon"
    assert descriptor["name"] == "My add-on"
    assert descriptor["description"] == "Development activity from Jira."
    assert descriptor["vendor"] == {"name": "Example", "url": "https://example.com/about"}
    assert descriptor["baseUrl"] == "https://example.com"
    assert descriptor["authentication"] == {"type": "jwt"}
    assert descriptor["apiVersion"] == 1
    assert descriptor["apiMigrations"] == {"signed-install": True, "context-qsh": True}
    assert descriptor["scopes"] == ["READ"]
    assert descriptor["lifecycle"] == {
        "installed": "/installed",
        "uninstalled": "/uninstalled",
        "enabled": "/enabled",
        "disabled": "/disabled",
    }
    assert set(descriptor["modules"]) == {"webhooks"}


def test_default_webhooks_cover_development_activity_once_each() -> None:
    webhooks = default()["modules"]["webhooks"]
    events = [webhook["event"] for webhook in webhooks]
    assert sorted(events) == sorted(DEVELOPMENT_EVENTS)
    assert "connect_addon_enabled" not in events and "connect_addon_disabled" not in events
    for webhook in webhooks:
        assert set(webhook) == {"event", "url"}


def test_default_webhook_urls_are_relative_unique_and_named_after_their_event() -> None:
    webhooks = default()["modules"]["webhooks"]
    urls = [webhook["url"] for webhook in webhooks]
    assert len(set(urls)) == len(urls)
    for webhook in webhooks:
        slug = webhook["event"].removeprefix("jira:").replace("_", "-")
        assert UrlTemplate.parse(webhook["url"]).path == f"/webhooks/jira/{slug}"


def test_default_webhooks_carry_each_context_parameter_their_event_provides() -> None:
    for webhook in default()["modules"]["webhooks"]:
        event = lookup(webhook["event"])
        assert event is not None
        template = UrlTemplate.parse(webhook["url"])
        assert set(template.parameters) <= set(event.parameters)
        assert set(event.parameters) - DEPRECATED_PARAMETERS == set(template.parameters)
        query = dict(parse_qsl(webhook["url"].partition("?")[2]))
        assert all(value.startswith("${") for value in query.values())


def test_the_issue_updated_url() -> None:
    webhooks = {webhook["event"]: webhook["url"] for webhook in default()["modules"]["webhooks"]}
    assert webhooks["jira:issue_updated"] == (
        "/webhooks/jira/issue-updated"
        "?issueKey=${issue.key}&issueId=${issue.id}&projectKey=${project.key}&projectId=${project.id}"
    )


def test_default_descriptor_passes_the_check_cleanly() -> None:
    result = check_descriptor(default())
    assert result.errors == ()
    assert result.warnings == ()


def test_filter_exclude_body_and_property_keys_are_expressible() -> None:
    jql = 'project = "DEV" AND labels = "a\\"b"'
    descriptor = default(issue_filter=jql, exclude_body=True, property_keys=["dev.sync", "x"])
    webhooks = {webhook["event"]: webhook for webhook in descriptor["modules"]["webhooks"]}
    filtered = {name for name, webhook in webhooks.items() if "filter" in webhook}
    assert filtered == {event.name for event in events() if event.supports_filter}
    assert webhooks["comment_created"]["filter"] == jql
    assert {name for name, webhook in webhooks.items() if "propertyKeys" in webhook} == {
        "jira:issue_created",
        "jira:issue_updated",
    }
    assert webhooks["jira:issue_updated"]["propertyKeys"] == ["dev.sync", "x"]
    assert all(webhook["excludeBody"] is True for webhook in webhooks.values())
    assert check_descriptor(descriptor) == check_descriptor(default())


def test_parse_webhooks_reads_the_default_modules() -> None:
    modules = parse_webhooks(default(issue_filter="project = DEV", property_keys=["p"]))
    assert len(modules) == len(DEVELOPMENT_EVENTS)
    assert [module.index for module in modules] == list(range(len(modules)))
    first = modules[0]
    assert isinstance(first, WebhookModule)
    assert first.event == "jira:issue_created"
    assert first.url == first.template.text
    assert first.template.path == "/webhooks/jira/issue-created"
    assert (first.filter, first.exclude_body, first.property_keys) == (
        "project = DEV",
        False,
        ("p",),
    )
    assert first.label == f"modules.webhooks[0] (event jira:issue_created, url {first.url})"
    worklog = next(module for module in modules if module.event == "worklog_created")
    assert (worklog.filter, worklog.exclude_body, worklog.property_keys) == (None, False, ())


def test_parse_webhooks_without_modules_is_empty() -> None:
    assert parse_webhooks({}) == ()
    assert parse_webhooks({"modules": {}}) == ()


@pytest.mark.parametrize(
    ("webhooks", "message"),
    [
        ("nope", "modules.webhooks must be a list"),
        (["x"], r"modules.webhooks\[0\] \(event \?, url \?\): must be an object"),
        ([{"url": "/x"}], r"\[0\] \(event \?, url /x\): 'event' is missing"),
        ([{"event": "jira:issue_created"}], "'url' is missing"),
        ([{"event": "e", "url": "/x", "filter": 1}], "'filter' must be a string"),
        ([{"event": "e", "url": "/x", "excludeBody": "yes"}], "'excludeBody' must be true"),
        ([{"event": "e", "url": "/x", "propertyKeys": "p"}], "'propertyKeys' must be a list"),
        ([{"event": "e", "url": "/x", "propertyKeys": [1]}], "'propertyKeys' must be a list"),
        ([{"event": "e", "url": "/x?k=${issue"}], r"\(event e, url /x\?k=\$\{issue\): .*unterm"),
    ],
)
def test_parse_webhooks_refuses_malformed_modules(webhooks: object, message: str) -> None:
    with pytest.raises(DescriptorError, match=message):
        parse_webhooks({"modules": {"webhooks": webhooks}})


def test_lifecycle_paths() -> None:
    assert lifecycle_paths(default()) == {
        "installed": "/installed",
        "uninstalled": "/uninstalled",
        "enabled": "/enabled",
        "disabled": "/disabled",
    }
    assert lifecycle_paths({"lifecycle": {"installed": "/i", "enabled": 3, "other": "/o"}}) == {
        "installed": "/i"
    }
    assert lifecycle_paths({}) == {}
    assert lifecycle_paths({"lifecycle": []}) == {}


def test_rendered_default_round_trips_through_json() -> None:
    descriptor = default(name='\u2603 "x" \\ \n')
    assert json.loads(json.dumps(descriptor)) == descriptor


def test_the_descriptor_asks_for_write_only_when_the_sync_is_on() -> None:
    assert default(sync_write=False)["scopes"] == ["READ"]
    assert default(sync_write=True)["scopes"] == ["READ", "WRITE"]
