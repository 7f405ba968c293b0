"""The Forge manifest made from a rendered descriptor, its own refusals, and Atlassian's validator."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from descriptor import (
    DEFAULT_TEMPLATE_PATH,
    FORGE_SCOPES,
    ManifestError,
    forge_app_id,
    forge_manifest,
    lifecycle_paths,
    render_descriptor,
    to_yaml,
)
from tests.conftest import unavailable
from tests.support.forge import VALIDATOR, validate

APP_UUID = "0b7c9b9e-6c2a-4d8e-9a53-2f1e5c1e3a10"
APP_ARI = f"ari:cloud:ecosystem::app/{APP_UUID}"
SETTINGS: dict[str, object] = {
    "base_url": "https://addon.example.com",
    "key": "my-addon",
    "name": "My add-on",
    "description": "Development activity from Jira.",
    "vendor_name": "Example",
    "vendor_url": "https://example.com/about",
}
MODULE_KEY = re.compile(r"[a-z0-9-]+")


def default(**overrides: object) -> dict[str, Any]:
    return render_descriptor(DEFAULT_TEMPLATE_PATH.read_text("utf-8"), {**SETTINGS, **overrides})


def with_extra_modules(descriptor: dict[str, Any]) -> dict[str, Any]:
    """The default descriptor plus a page, a panel, a single-object module and every scope."""
    changed = copy.deepcopy(descriptor)
    changed["scopes"] = [*FORGE_SCOPES, "none"]
    changed["modules"]["generalPages"] = [
        {"key": "activity-page", "url": "/pages/activity", "name": {"value": "Activity"}}
    ]
    changed["modules"]["webPanels"] = [
        {
            "key": "activity-panel",
            "url": "/panels/activity?issueKey={issue.key}",
            "location": "atl.jira.view.issue.right.context",
            "name": {"value": "Activity"},
        }
    ]
    changed["modules"]["postInstallPage"] = {
        "key": "welcome",
        "url": "/pages/welcome",
        "name": {"value": "Welcome"},
    }
    return changed


def refused(descriptor: dict[str, Any], *fragments: str) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        forge_manifest(descriptor, app_id=APP_ARI)
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    return caught.value


# The app id


@pytest.mark.parametrize("value", [APP_ARI, APP_UUID, APP_UUID.upper(), f"  {APP_ARI}\n"])
def test_an_app_id_is_the_ari_or_its_bare_uuid(value: str) -> None:
    assert forge_app_id(value) == APP_ARI


@pytest.mark.parametrize(
    "value",
    [
        "",
        "my-app",
        "ari:cloud:ecosystem::app/",
        "ari:cloud:ecosystem::app/not-a-uuid",
        f"ari:cloud:ecosystem::installation/{APP_UUID}",
        f"ari:cloud:jira::app/{APP_UUID}",
        APP_UUID.replace("-", ""),
        "{" + APP_UUID + "}",
        f"{APP_ARI}/extra",
        APP_ARI.upper(),
    ],
)
def test_anything_else_is_not_an_app_id(value: str) -> None:
    with pytest.raises(ValueError, match=r"expected ari:cloud:ecosystem::app/<uuid> or the bare"):
        forge_app_id(value)


# The manifest's contents


def test_the_default_template_becomes_a_connect_on_forge_manifest() -> None:
    descriptor = default()
    manifest = forge_manifest(descriptor, app_id=APP_UUID)
    assert list(manifest) == ["app", "remotes", "connectModules", "permissions"]
    assert manifest["app"] == {
        "id": APP_ARI,
        "connect": {"key": "my-addon", "remote": "connect", "authentication": "jwt"},
        "runtime": {"name": "nodejs22.x"},
    }
    assert manifest["remotes"] == [{"key": "connect", "baseUrl": "https://addon.example.com"}]
    modules = manifest["connectModules"]
    assert list(modules) == ["jira:lifecycle", "jira:webhooks"]
    assert modules["jira:lifecycle"] == [{"key": "lifecycle", **lifecycle_paths(descriptor)}]
    assert modules["jira:lifecycle"][0]["installed"] == "/installed"
    webhooks = modules["jira:webhooks"]
    assert [{k: v for k, v in w.items() if k != "key"} for w in webhooks] == (
        descriptor["modules"]["webhooks"]
    )
    keys = [w["key"] for w in webhooks] + ["lifecycle"]
    assert len(set(keys)) == len(keys)
    assert all(MODULE_KEY.fullmatch(key) for key in keys)
    assert webhooks[0]["key"] == "jira-issue-created"
    assert "${issue.key}" in webhooks[0]["url"]
    assert manifest["permissions"] == {"scopes": ["read:connect-jira"]}


def test_a_webhook_added_to_the_template_appears_without_further_work() -> None:
    source = DEFAULT_TEMPLATE_PATH.read_text("utf-8").replace(
        '  ("attachment_deleted",',
        '  ("jira:issue_updated", "/webhooks/jira/issue-updated-again?issueKey=${issue.key}"),\n'
        '  ("attachment_deleted",',
    )
    descriptor = render_descriptor(source, SETTINGS)
    webhooks = forge_manifest(descriptor, app_id=APP_ARI)["connectModules"]["jira:webhooks"]
    added = [w for w in webhooks if w["url"].startswith("/webhooks/jira/issue-updated-again")]
    assert added == [
        {
            "key": "jira-issue-updated-2",
            "event": "jira:issue_updated",
            "url": "/webhooks/jira/issue-updated-again?issueKey=${issue.key}",
        }
    ]


def test_webhook_options_are_carried_over() -> None:
    descriptor = default(issue_filter="project = DEV", exclude_body=True, property_keys=["x"])
    created = forge_manifest(descriptor, app_id=APP_ARI)["connectModules"]["jira:webhooks"][0]
    assert created["filter"] == "project = DEV"
    assert created["excludeBody"] is True
    assert created["propertyKeys"] == ["x"]


def test_a_base_url_with_a_path_prefix_is_the_remote() -> None:
    manifest = forge_manifest(default(base_url="https://example.com/jira-addon"), app_id=APP_ARI)
    assert manifest["remotes"] == [{"key": "connect", "baseUrl": "https://example.com/jira-addon"}]


def test_other_modules_are_carried_over_and_keep_their_keys() -> None:
    descriptor = with_extra_modules(default())
    descriptor["modules"]["generalPages"].append({"key": "jira-issue-created", "url": "/p"})
    modules = forge_manifest(descriptor, app_id=APP_ARI)["connectModules"]
    assert modules["jira:generalPages"] == descriptor["modules"]["generalPages"]
    assert modules["jira:webPanels"] == descriptor["modules"]["webPanels"]
    assert modules["jira:postInstallPage"] == [descriptor["modules"]["postInstallPage"]]
    # A module's own key wins: the webhook that would have had it takes the next free one.
    assert modules["jira:webhooks"][0]["key"] == "jira-issue-created-2"


def test_each_connect_scope_has_its_forge_name() -> None:
    descriptor = default()
    descriptor["scopes"] = ["read", "WRITE", "Delete", "project_admin", "NONE", "READ"]
    assert forge_manifest(descriptor, app_id=APP_ARI)["permissions"]["scopes"] == [
        "read:connect-jira",
        "write:connect-jira",
        "delete:connect-jira",
        "project-admin:connect-jira",
    ]


def test_the_scope_names_are_the_validators_own() -> None:
    """Each Forge name is in @forge/manifest's own scope list, and no Jira Connect scope is missing."""
    listing = VALIDATOR / "node_modules/@forge/manifest/out/scopes/shipyard-scopes.json"
    if not listing.is_file():
        unavailable("@forge/manifest", f"run `bash scripts/test` (npm ci in {VALIDATOR})")
    known = set(json.loads(listing.read_text("utf-8")))
    assert {scope for scope in known if scope.endswith(":connect-jira")} == set(
        FORGE_SCOPES.values()
    )


# What the validator lets through and the manifest refuses


def test_a_lifecycle_without_installed_is_refused() -> None:
    descriptor = default()
    del descriptor["lifecycle"]["installed"]
    refused(descriptor, "lifecycle.installed: missing", "shared secret")


def test_an_unknown_connect_event_is_refused_with_a_suggestion() -> None:
    descriptor = default()
    descriptor["modules"]["webhooks"][0]["event"] = "jira:issue_creatd"
    refused(
        descriptor,
        "modules.webhooks[0]: unknown Connect event 'jira:issue_creatd'",
        "did you mean jira:issue_created",
    )


@pytest.mark.parametrize("event", ["avi:jira:created:issue", "avi:jira:invented:thing"])
def test_a_forge_event_name_is_refused_in_a_connect_webhook(event: str) -> None:
    descriptor = default()
    descriptor["modules"]["webhooks"][1]["event"] = event
    refused(descriptor, f"modules.webhooks[1]: {event!r} is a Forge product event name")


@pytest.mark.parametrize(
    "base_url", ["http://addon.example.com", "http://localhost:8000", "ftp://addon.example.com"]
)
def test_a_base_url_that_is_not_https_is_refused(base_url: str) -> None:
    refused(
        default(base_url=base_url), f"baseUrl {base_url!r}: Forge reaches a remote only over https"
    )


def test_an_unknown_scope_is_refused() -> None:
    descriptor = default()
    descriptor["scopes"] = ["READ", "SUPERUSER"]
    refused(descriptor, "scopes: 'SUPERUSER' is not a Connect scope for Jira")


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ({"url": "/p"}, "modules.generalPages[0]: 'key' None must be"),
        ({"key": "has space", "url": "/p"}, "modules.generalPages[0]: 'key' 'has space' must be"),
        ("page", "modules.generalPages[0]: must be an object"),
        ({"key": "lifecycle", "url": "/p"}, "key 'lifecycle' is already used"),
    ],
)
def test_a_carried_module_needs_a_unique_valid_key(module: object, message: str) -> None:
    descriptor = default()
    descriptor["modules"]["generalPages"] = [module]
    refused(descriptor, message)


def test_every_problem_is_reported_at_once() -> None:
    descriptor = default(base_url="http://addon.example.com")
    del descriptor["lifecycle"]["installed"]
    descriptor["modules"]["webhooks"][2]["event"] = "nothing_happened"
    error = refused(descriptor)
    assert len(error.problems) == 3
    with pytest.raises(ManifestError, match="app id"):
        forge_manifest(default(), app_id="my-app")


# Atlassian's validator (npm @forge/manifest, FULL validation, as `forge deploy` runs it)


def validated(manifest: dict[str, Any], directory: Path) -> None:
    path = directory / "manifest.yml"
    path.write_text(to_yaml(manifest), encoding="utf-8")
    result = validate(path)
    assert result.success, result.messages
    assert result.errors == []
    assert result.manifest == manifest  # the YAML reads back as exactly what was built


@pytest.mark.parametrize(
    "base_url", ["https://addon.example.com", "https://example.com:8443/jira-addon"]
)
def test_the_validator_accepts_the_default_template(base_url: str, tmp_path: Path) -> None:
    validated(forge_manifest(default(base_url=base_url), app_id=APP_ARI), tmp_path)


def test_the_validator_accepts_a_template_with_extra_modules_and_every_scope(
    tmp_path: Path,
) -> None:
    descriptor = with_extra_modules(default(issue_filter='project = "DEV"', property_keys=["a"]))
    manifest = forge_manifest(descriptor, app_id=APP_ARI)
    assert set(manifest["permissions"]["scopes"]) == set(FORGE_SCOPES.values())
    validated(manifest, tmp_path)


def test_unusual_text_survives_the_yaml(tmp_path: Path) -> None:
    descriptor = with_extra_modules(default())
    texts = [
        'say "hi": # not a comment',
        "two\nlines\r\n\ttab \\ backslash",
        "- not a list item",
        "yes",
        "null",
        "  leading and trailing  ",
        "ünïcödé 漢字 emoji 🎉🧑‍💻 \u2028",
        "{not: a mapping}",
        "${issue.key} & *anchor !tag %directive @at `tick`",
        "",
    ]
    descriptor["modules"]["generalPages"] = [
        {"key": f"page-{index}", "url": f"/p/{index}", "name": {"value": text}}
        for index, text in enumerate(texts)
    ]
    validated(forge_manifest(descriptor, app_id=APP_ARI), tmp_path)


def test_the_validator_refuses_an_unknown_remote(tmp_path: Path) -> None:
    manifest = forge_manifest(default(), app_id=APP_ARI)
    manifest["app"]["connect"]["remote"] = "elsewhere"
    path = tmp_path / "manifest.yml"
    path.write_text(to_yaml(manifest), encoding="utf-8")
    result = validate(path)
    assert not result.success
    assert any("no remote found with key 'elsewhere'" in m for m in result.messages), (
        result.messages
    )


def test_the_validator_refuses_a_scope_that_does_not_exist(tmp_path: Path) -> None:
    manifest = forge_manifest(default(), app_id=APP_ARI)
    manifest["permissions"]["scopes"].append("read:connect-jira-everything")
    path = tmp_path / "manifest.yml"
    path.write_text(to_yaml(manifest), encoding="utf-8")
    result = validate(path)
    assert not result.success
    assert any("read:connect-jira-everything" in m for m in result.messages), result.messages


# Jira events through Forge: --events forge and --events both (issue 18)


def forge_side(manifest: dict[str, Any]) -> dict[str, Any]:
    modules: dict[str, Any] = manifest["modules"]
    return modules


@pytest.mark.parametrize("events", ["forge", "both"])
def test_the_forge_side_has_triggers_a_schedule_and_endpoints_with_the_system_token(
    events: str,
) -> None:
    descriptor = default()
    manifest = forge_manifest(descriptor, app_id=APP_ARI, events=events)
    modules = forge_side(manifest)
    assert list(modules) == ["trigger", "scheduledTrigger", "preUninstall", "endpoint"]
    jira, lifecycle = modules["trigger"]
    subscribed = [w["event"] for w in descriptor["modules"]["webhooks"]]
    assert jira["endpoint"] == lifecycle["endpoint"] == "forge-events"
    assert jira["events"][:5] == [
        "avi:jira:created:issue",
        "avi:jira:updated:issue",
        "avi:jira:deleted:issue",
        "avi:jira:commented:issue",  # comment_created and comment_updated, once
        "avi:jira:deleted:comment",
    ]
    assert len(jira["events"]) == len(set(jira["events"])) == len(subscribed) - 1
    assert lifecycle["events"] == ["avi:forge:installed:app", "avi:forge:upgraded:app"]
    assert modules["scheduledTrigger"] == [
        {"key": "forge-hourly", "endpoint": "forge-tick", "interval": "hour"}
    ]
    assert modules["preUninstall"] == [
        {"key": "forge-pre-uninstall", "endpoint": "forge-uninstall"}
    ]
    endpoints = {e["key"]: e for e in modules["endpoint"]}
    assert {key: e["route"]["path"] for key, e in endpoints.items()} == {
        "forge-events": "/forge/events",
        "forge-tick": "/forge/tick",
        "forge-uninstall": "/forge/uninstall",
    }
    for endpoint in endpoints.values():
        assert endpoint["remote"] == "connect"
        assert endpoint["auth"] == {"appSystemToken": {"enabled": True}}
    scopes = manifest["permissions"]["scopes"]
    assert {"read:connect-jira", "read:app-system-token", "read:jira-work", "read:jira-user"} <= (
        set(scopes)
    )
    has_webhooks = "jira:webhooks" in manifest["connectModules"]
    assert has_webhooks is (events == "both")
    assert manifest["connectModules"]["jira:lifecycle"][0]["installed"] == "/installed"


def test_connect_stays_the_default_and_has_no_forge_side() -> None:
    assert forge_manifest(default(), app_id=APP_ARI) == forge_manifest(
        default(), app_id=APP_ARI, events="connect"
    )
    assert "modules" not in forge_manifest(default(), app_id=APP_ARI)


def test_only_the_events_subscribed_get_a_trigger_and_their_scopes() -> None:
    descriptor = default()
    descriptor["modules"]["webhooks"] = [
        {"event": "comment_updated", "url": "/webhooks/jira/comment-updated"},
        {"event": "sprint_started", "url": "/webhooks/jira/sprint-started"},
    ]
    manifest = forge_manifest(descriptor, app_id=APP_ARI, events="forge")
    assert manifest["modules"]["trigger"][0]["events"] == [
        "avi:jira:commented:issue",
        "avi:jira-software:started:sprint",
    ]
    assert manifest["permissions"]["scopes"] == [
        "read:connect-jira",
        "read:app-system-token",
        "read:jira-work",
    ]


def test_forge_refuses_a_connect_event_forge_never_sends() -> None:
    descriptor = default()
    descriptor["modules"]["webhooks"].append({"event": "jira:worklog_updated", "url": "/w"})
    refused_forge = pytest.raises(ManifestError, match="jira:worklog_updated has no Forge event")
    with refused_forge:
        forge_manifest(descriptor, app_id=APP_ARI, events="forge")
    both = forge_manifest(descriptor, app_id=APP_ARI, events="both")
    assert "jira:worklog_updated" in [w["event"] for w in both["connectModules"]["jira:webhooks"]]


def test_an_unknown_events_choice_is_refused() -> None:
    with pytest.raises(ManifestError, match="expected one of connect, forge, both"):
        forge_manifest(default(), app_id=APP_ARI, events="webhooks")


def test_a_connect_module_taking_a_forge_key_is_refused() -> None:
    descriptor = default()
    descriptor["modules"]["generalPages"] = [{"key": "forge-tick", "url": "/p"}]
    with pytest.raises(ManifestError, match="'forge-tick' is taken"):
        forge_manifest(descriptor, app_id=APP_ARI, events="forge")


@pytest.mark.parametrize("events", ["connect", "forge", "both"])
@pytest.mark.parametrize("validation", ["FULL", "PRODUCT_TRIGGER", "FORGE_REMOTE_COMPUTE"])
def test_the_validator_accepts_each_variant(events: str, validation: str, tmp_path: Path) -> None:
    manifest = forge_manifest(
        with_extra_modules(default(base_url="https://example.com:8443/jira-addon")),
        app_id=APP_ARI,
        events=events,
    )
    path = tmp_path / "manifest.yml"
    path.write_text(to_yaml(manifest), encoding="utf-8")
    result = validate(path, validation)
    assert result.success, result.messages
    assert result.manifest == manifest


def test_the_validator_checks_the_trigger_scopes(tmp_path: Path) -> None:
    """PRODUCT_TRIGGER fails without the scope an event needs: the check above can fail."""
    manifest = forge_manifest(default(), app_id=APP_ARI, events="forge")
    manifest["permissions"]["scopes"].remove("read:jira-work")
    path = tmp_path / "manifest.yml"
    path.write_text(to_yaml(manifest), encoding="utf-8")
    result = validate(path, "PRODUCT_TRIGGER")
    assert not result.success
    assert any("read:jira-work" in message for message in result.messages), result.messages


def test_the_validator_wants_a_scope_beside_the_system_token(tmp_path: Path) -> None:
    """FORGE_REMOTE_COMPUTE refuses an endpoint with the system token and no product scope."""
    manifest = forge_manifest(default(), app_id=APP_ARI, events="forge")
    manifest["permissions"]["scopes"] = ["read:app-system-token"]
    path = tmp_path / "manifest.yml"
    path.write_text(to_yaml(manifest), encoding="utf-8")
    assert not validate(path, "FORGE_REMOTE_COMPUTE").success
