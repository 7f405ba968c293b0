"""`check_descriptor`: each refusal, with a message that names the part at fault."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from descriptor import CheckResult, check_descriptor

Descriptor = dict[str, Any]


def valid() -> Descriptor:
    return {
        "key": "my-addon",
        "name": "My add-on",
        "baseUrl": "https://example.com/jira-addon",
        "authentication": {"type": "jwt"},
        "scopes": ["READ"],
        "lifecycle": {"installed": "/installed", "uninstalled": "/uninstalled"},
        "modules": {
            "webhooks": [
                {
                    "event": "jira:issue_updated",
                    "url": "/hooks/issue-updated?issueKey=${issue.key}",
                    "filter": "project = DEV",
                    "excludeBody": False,
                    "propertyKeys": ["dev.sync"],
                },
                {"event": "sprint_started", "url": "/hooks/sprint?sprintId=${sprint.id}"},
                {"event": "issuelink_created", "url": "/hooks/issuelink"},
            ]
        },
    }


def changed(change: Callable[[Descriptor], object]) -> Descriptor:
    descriptor = copy.deepcopy(valid())
    change(descriptor)
    return descriptor


def hook(descriptor: Descriptor, index: int) -> dict[str, Any]:
    webhook: dict[str, Any] = descriptor["modules"]["webhooks"][index]
    return webhook


def add(**webhook: object) -> Callable[[Descriptor], object]:
    return lambda descriptor: descriptor["modules"]["webhooks"].append(webhook)


def test_a_valid_descriptor_has_no_findings() -> None:
    result = check_descriptor(valid())
    assert result == CheckResult()
    assert result.ok


def test_enabled_and_disabled_are_optional_but_checked() -> None:
    descriptor = changed(lambda d: d["lifecycle"].update(enabled="/enabled"))
    assert check_descriptor(descriptor).ok
    descriptor = changed(lambda d: d["lifecycle"].update(disabled="disabled"))
    assert check_descriptor(descriptor).errors == (
        "lifecycle.disabled (disabled): must start with '/' (it is relative to baseUrl)",
    )


BAD_CASES: list[tuple[str, Callable[[Descriptor], object], str]] = [
    (
        "parameter the event does not provide",
        lambda d: hook(d, 1).update(url="/hooks/sprint?sprintId=${sprint.id}&key=${issue.key}"),
        "modules.webhooks[1] (event sprint_started, url /hooks/sprint?sprintId=${sprint.id}"
        "&key=${issue.key}): context parameter ${issue.key} is not provided by sprint_started "
        "(it provides ${sprint.id}, ${board.id})",
    ),
    (
        "parameter on an event that provides none",
        lambda d: hook(d, 2).update(url="/hooks/issuelink/${issue.id}"),
        "modules.webhooks[2] (event issuelink_created, url /hooks/issuelink/${issue.id}): "
        "context parameter ${issue.id} is not provided by issuelink_created (it provides none)",
    ),
    (
        "comment.id is not a Connect parameter",
        add(event="comment_created", url="/hooks/comment?c=${comment.id}"),
        "modules.webhooks[3] (event comment_created, url /hooks/comment?c=${comment.id}): "
        "context parameter ${comment.id} is not provided by comment_created",
    ),
    (
        "filter on an event without JQL filtering",
        lambda d: hook(d, 1).update(filter="project = DEV"),
        "modules.webhooks[1] (event sprint_started, url /hooks/sprint?sprintId=${sprint.id}): "
        "'filter' (JQL) is supported only by jira:issue_created, jira:issue_updated, "
        "jira:issue_deleted, comment_created, comment_updated, comment_deleted, "
        "not by sprint_started",
    ),
    (
        "filter that is not a string",
        lambda d: hook(d, 0).update(filter=["project = DEV"]),
        "modules.webhooks[0] (event jira:issue_updated, url /hooks/issue-updated?issueKey="
        "${issue.key}): 'filter' must be a string (a JQL query)",
    ),
    (
        "absolute https URL",
        lambda d: hook(d, 2).update(url="https://evil.example/hook"),
        "modules.webhooks[2] (event issuelink_created, url https://evil.example/hook): "
        "url is absolute; it must be a path relative to baseUrl, starting with '/'",
    ),
    (
        "absolute http URL",
        lambda d: hook(d, 2).update(url="http://example.com/jira-addon/hooks/issuelink"),
        "url is absolute",
    ),
    (
        "protocol-relative URL",
        lambda d: hook(d, 2).update(url="//evil.example/hook"),
        "modules.webhooks[2] (event issuelink_created, url //evil.example/hook): "
        "url is protocol-relative (//host); it must be a path relative to baseUrl",
    ),
    (
        "URL without a leading slash",
        lambda d: hook(d, 2).update(url="hooks/issuelink"),
        "modules.webhooks[2] (event issuelink_created, url hooks/issuelink): "
        "url must start with '/' (it is relative to baseUrl)",
    ),
    (
        "malformed URL template",
        lambda d: hook(d, 1).update(url="/hooks/sprint?sprintId=${sprint.id"),
        "modules.webhooks[1] (event sprint_started, url /hooks/sprint?sprintId=${sprint.id): "
        "url '/hooks/sprint?sprintId=${sprint.id': unterminated '${'",
    ),
    (
        "two webhooks on one URL",
        add(event="issuelink_deleted", url="/hooks/issuelink"),
        "modules.webhooks[3] (event issuelink_deleted, url /hooks/issuelink): "
        "same URL as modules.webhooks[2] (event issuelink_created, url /hooks/issuelink)",
    ),
    (
        "two webhooks one request could match",
        add(event="jira:issue_created", url="/hooks/issue-updated?issueId=${issue.id}"),
        "modules.webhooks[3] (event jira:issue_created, url /hooks/issue-updated?issueId="
        "${issue.id}): url overlaps modules.webhooks[0] (event jira:issue_updated, url "
        "/hooks/issue-updated?issueKey=${issue.key}); a request could match both",
    ),
    (
        "webhook on a lifecycle URL",
        add(event="jira:issue_created", url="/installed"),
        "modules.webhooks[3] (event jira:issue_created, url /installed): "
        "url collides with lifecycle.installed (/installed)",
    ),
    (
        "missing event",
        lambda d: hook(d, 2).pop("event"),
        "modules.webhooks[2] (event ?, url /hooks/issuelink): missing 'event'",
    ),
    (
        "event that is not a string",
        lambda d: hook(d, 2).update(event=7),
        "modules.webhooks[2] (event ?, url /hooks/issuelink): 'event' must be a non-empty string",
    ),
    (
        "missing url",
        lambda d: hook(d, 2).pop("url"),
        "modules.webhooks[2] (event issuelink_created, url ?): missing 'url'",
    ),
    (
        "url that is not a string",
        lambda d: hook(d, 2).update(url=["/x"]),
        "modules.webhooks[2] (event issuelink_created, url ?): url must be a string",
    ),
    (
        "webhook that is not an object",
        lambda d: d["modules"]["webhooks"].append("jira:issue_created"),
        "modules.webhooks[3] (event ?, url ?): must be an object",
    ),
    (
        "webhooks that are not a list",
        lambda d: d["modules"].update(webhooks={"event": "jira:issue_created"}),
        "modules.webhooks: must be a list",
    ),
    (
        "propertyKeys not a list",
        lambda d: hook(d, 0).update(propertyKeys="dev.sync"),
        "modules.webhooks[0] (event jira:issue_updated, url /hooks/issue-updated?issueKey="
        "${issue.key}): 'propertyKeys' must be a list of strings",
    ),
    (
        "propertyKeys not all strings",
        lambda d: hook(d, 0).update(propertyKeys=["a", 1]),
        "'propertyKeys' must be a list of strings",
    ),
    (
        "excludeBody not a bool",
        lambda d: hook(d, 0).update(excludeBody="false"),
        "modules.webhooks[0] (event jira:issue_updated, url /hooks/issue-updated?issueKey="
        "${issue.key}): 'excludeBody' must be true or false",
    ),
    (
        "excludeBody as a number",
        lambda d: hook(d, 0).update(excludeBody=0),
        "'excludeBody' must be true or false",
    ),
    (
        "key with a space",
        lambda d: d.update(key="my addon"),
        "key 'my addon': only letters, digits, '-', '.' and '_' are allowed",
    ),
    (
        "key with a slash",
        lambda d: d.update(key="my/addon"),
        "key 'my/addon': only letters",
    ),
    ("key too long", lambda d: d.update(key="k" * 65), "65 characters, at most 64 are allowed"),
    ("missing key", lambda d: d.pop("key"), "key: missing or not a non-empty string"),
    ("empty key", lambda d: d.update(key=""), "key: missing or not a non-empty string"),
    ("missing baseUrl", lambda d: d.pop("baseUrl"), "baseUrl: missing or not a non-empty string"),
    (
        "baseUrl not http(s)",
        lambda d: d.update(baseUrl="ftp://example.com"),
        "baseUrl 'ftp://example.com': must be an http(s) URL with a host",
    ),
    (
        "baseUrl without a host",
        lambda d: d.update(baseUrl="https:///x"),
        "must be an http(s) URL with a host",
    ),
    (
        "baseUrl that is a path",
        lambda d: d.update(baseUrl="/jira-addon"),
        "must be an http(s) URL with a host",
    ),
    (
        "baseUrl with a query",
        lambda d: d.update(baseUrl="https://example.com/?a=1"),
        "must not carry a query or a fragment",
    ),
    (
        "baseUrl too long",
        lambda d: d.update(baseUrl="https://example.com/" + "a" * 200),
        "baseUrl: longer than 200 characters",
    ),
    (
        "authentication none",
        lambda d: d.update(authentication={"type": "none"}),
        'authentication: must be {"type": "jwt"}',
    ),
    ("missing authentication", lambda d: d.pop("authentication"), "authentication: must be"),
    ("missing READ scope", lambda d: d.update(scopes=["WRITE"]), "scopes: webhooks need the READ"),
    ("missing scopes", lambda d: d.pop("scopes"), "scopes: webhooks need the READ scope"),
    ("missing lifecycle", lambda d: d.pop("lifecycle"), "lifecycle: missing or not an object"),
    (
        "missing installed",
        lambda d: d["lifecycle"].pop("installed"),
        "lifecycle.installed: missing; the server needs it",
    ),
    (
        "missing uninstalled",
        lambda d: d["lifecycle"].pop("uninstalled"),
        "lifecycle.uninstalled: missing; the server needs it",
    ),
    (
        "absolute lifecycle URL",
        lambda d: d["lifecycle"].update(installed="https://example.com/installed"),
        "lifecycle.installed (https://example.com/installed): is absolute",
    ),
    (
        "protocol-relative lifecycle URL",
        lambda d: d["lifecycle"].update(uninstalled="//example.com/uninstalled"),
        "lifecycle.uninstalled (//example.com/uninstalled): is protocol-relative",
    ),
    (
        "lifecycle URL not a string",
        lambda d: d["lifecycle"].update(installed=True),
        "lifecycle.installed (True): must be a string",
    ),
    (
        "two lifecycle callbacks on one URL",
        lambda d: d["lifecycle"].update(uninstalled="/installed"),
        "lifecycle.uninstalled (/installed): same URL as lifecycle.installed",
    ),
    (
        "malformed lifecycle URL",
        lambda d: d["lifecycle"].update(installed="/installed${"),
        "lifecycle.installed: url '/installed${': unterminated",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_each_bad_case_is_refused_with_a_readable_message(
    change: Callable[[Descriptor], object], message: str
) -> None:
    result = check_descriptor(changed(change))
    assert not result.ok
    assert any(message in error for error in result.errors), result.errors


def test_errors_are_all_reported_at_once() -> None:
    def break_everything(d: Descriptor) -> None:
        d.update(key="bad key", baseUrl="ftp://x")
        hook(d, 1).update(filter="x")
        hook(d, 2).update(url="x")

    assert len(check_descriptor(changed(break_everything)).errors) == 4


@pytest.mark.parametrize("value", [None, [], "descriptor", 3])
def test_a_descriptor_that_is_not_an_object(value: object) -> None:
    result = check_descriptor(value)  # type: ignore[arg-type]
    assert result.errors == ("descriptor: must be a JSON object",)


def test_different_literal_query_values_tell_webhooks_apart() -> None:
    def two_kinds(d: Descriptor) -> None:
        d["modules"]["webhooks"] = [
            {"event": "jira:issue_created", "url": "/hooks?kind=created&key=${issue.key}"},
            {"event": "jira:issue_deleted", "url": "/hooks?kind=deleted&key=${issue.key}"},
        ]

    assert check_descriptor(changed(two_kinds)).ok


def test_an_unknown_event_is_a_warning_naming_the_closest_events() -> None:
    descriptor = changed(add(event="jira:issue_udpated", url="/hooks/typo"))
    result = check_descriptor(descriptor)
    assert result.ok
    assert result.warnings == (
        "modules.webhooks[3] (event jira:issue_udpated, url /hooks/typo): unknown event "
        "'jira:issue_udpated'; did you mean jira:issue_updated, jira:issue_deleted "
        "or jira:issue_created?",
    )


def test_an_unknown_event_without_near_names() -> None:
    descriptor = changed(add(event="login_failed", url="/hooks/login?id=${page.id}"))
    result = check_descriptor(descriptor)
    assert result.ok
    assert result.warnings == (
        "modules.webhooks[3] (event login_failed, url /hooks/login?id=${page.id}): "
        "unknown event 'login_failed'; Jira may never send it",
    )


def test_a_filter_on_an_unknown_event_is_an_error() -> None:
    descriptor = changed(add(event="issue_updated", url="/hooks/x", filter="project = DEV"))
    result = check_descriptor(descriptor)
    assert any("did you mean jira:issue_updated" in warning for warning in result.warnings)
    assert any("not by issue_updated" in error for error in result.errors)


def test_deprecated_events_and_parameters_are_warnings() -> None:
    def deprecated(d: Descriptor) -> None:
        d["modules"]["webhooks"] = [
            {"event": "jira:worklog_updated", "url": "/hooks/worklog?issueId=${issue.id}"},
            {"event": "user_updated", "url": "/hooks/user?name=${modifiedUser.name}"},
        ]

    result = check_descriptor(changed(deprecated))
    assert result.ok
    assert len(result.warnings) == 2
    assert "jira:worklog_updated is deprecated" in result.warnings[0]
    assert "context parameter ${modifiedUser.name} is deprecated" in result.warnings[1]


def test_property_keys_on_a_deleted_event_are_a_warning() -> None:
    descriptor = changed(add(event="jira:issue_deleted", url="/hooks/gone", propertyKeys=["p"]))
    result = check_descriptor(descriptor)
    assert result.ok
    assert result.warnings == (
        "modules.webhooks[3] (event jira:issue_deleted, url /hooks/gone): "
        "Jira sends no entity properties with a deleted event",
    )


def test_no_webhooks_need_no_scope() -> None:
    def bare(d: Descriptor) -> None:
        d.pop("modules")
        d.pop("scopes")

    assert check_descriptor(changed(bare)).ok


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["event", "url", "filter", "excludeBody", "propertyKeys", "type", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=15,
)


@given(
    key=st.sampled_from(["key", "baseUrl", "authentication", "scopes", "lifecycle", "modules"]),
    value=json_values,
)
def test_check_never_raises_on_odd_descriptors(key: str, value: object) -> None:
    descriptor = valid()
    descriptor[key] = value
    result = check_descriptor(descriptor)
    assert all(isinstance(message, str) for message in result.errors + result.warnings)


@given(webhooks=st.lists(json_values, max_size=4))
def test_check_never_raises_on_odd_webhooks(webhooks: list[object]) -> None:
    descriptor = valid()
    descriptor["modules"] = {"webhooks": webhooks}
    check_descriptor(descriptor)
