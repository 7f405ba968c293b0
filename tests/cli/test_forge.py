"""`addon forge manifest`: the manifest from the served descriptor, written where Forge wants it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run
from tests.support.forge import validate

APP_UUID = "5d3a1f0e-8b7c-4e2a-9f61-0c4b2d8e7a93"
APP_ARI = f"ari:cloud:ecosystem::app/{APP_UUID}"


def forge_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ADDON_KEY": "dev-jira-events",
        "ADDON_BASE_URL": "https://events.example.com/jira",
        "FORGE_APP_ID": APP_UUID,
        "DATABASE_URL": f"sqlite:///{tmp_path}/addon.db",
        **extra,
    }


def refused(result: object, *fragments: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    last = stderr.strip().splitlines()[-1]  # after any descriptor warnings the log printed
    assert last.startswith("addon: "), stderr
    for fragment in fragments:
        assert fragment in last, stderr


def test_prints_the_manifest_of_the_served_descriptor(tmp_path: Path) -> None:
    env = forge_env(tmp_path)
    printed = run("forge", "manifest", env=env, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    described = json.loads(run("descriptor", env=env, cwd=tmp_path).stdout)
    (tmp_path / "manifest.yml").write_text(printed.stdout, encoding="utf-8")
    result = validate(tmp_path / "manifest.yml")
    assert result.success, result.messages
    manifest = result.manifest
    assert manifest["app"]["id"] == APP_ARI
    assert manifest["app"]["connect"]["key"] == "dev-jira-events"
    assert manifest["remotes"] == [{"key": "connect", "baseUrl": "https://events.example.com/jira"}]
    webhooks = manifest["connectModules"]["jira:webhooks"]
    assert [(w["event"], w["url"]) for w in webhooks] == [
        (w["event"], w["url"]) for w in described["modules"]["webhooks"]
    ]
    assert manifest["connectModules"]["jira:lifecycle"][0]["installed"] == "/installed"


def test_output_writes_dir_manifest_and_refuses_to_overwrite(tmp_path: Path) -> None:
    env = forge_env(tmp_path)
    target = tmp_path / "forge-app"
    first = run("forge", "manifest", "--output", str(target), env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "forge deploy" in first.stdout
    written = target / "manifest.yml"
    assert validate(written).success
    written.write_text("# edited by hand\n", encoding="utf-8")
    again = run("forge", "manifest", "--output", str(target), env=env, cwd=tmp_path)
    refused(again, f"{written} exists; pass --force")
    assert written.read_text(encoding="utf-8") == "# edited by hand\n"
    forced = run("forge", "manifest", "--output", str(target), "--force", env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert written.read_text(encoding="utf-8") == (
        run("forge", "manifest", env=env, cwd=tmp_path).stdout
    )


EXTRA_MODULES = """,
  "scopes": ["READ", "WRITE", "ACT_AS_USER"],
  "lifecycle": {"installed": "/installed", "uninstalled": "/uninstalled"},
  "modules": {
    "webhooks": [
      {"event": "jira:issue_updated", "url": "/webhooks/jira/issue-updated?issueKey=${issue.key}"},
      {"event": "sprint_started", "url": "/webhooks/jira/sprint-started?sprintId=${sprint.id}"}
    ],
    "generalPages": [{"key": "events-page", "url": "/pages/events", "name": {"value": "Events"}}],
    "webItems": [{"key": "events-link", "url": "/pages/events", "location": "system.top.navigation.bar", "name": {"value": "Events"}}]
  }
}
"""


def extra_template(tmp_path: Path, body: str = EXTRA_MODULES) -> Path:
    template = tmp_path / "descriptor.json.j2"
    template.write_text(
        '{"key": {{ key }}, "name": {{ name }}, "baseUrl": {{ base_url }},'
        ' "authentication": {"type": "jwt"}' + body,
        encoding="utf-8",
    )
    return template


def test_a_template_with_extra_modules(tmp_path: Path) -> None:
    env = forge_env(tmp_path, ADDON_DESCRIPTOR_TEMPLATE=str(extra_template(tmp_path)))
    target = tmp_path / "forge-app"
    result = run("forge", "manifest", "--output", str(target), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    validation = validate(target / "manifest.yml")
    assert validation.success, validation.messages
    modules = validation.manifest["connectModules"]
    assert [w["key"] for w in modules["jira:webhooks"]] == ["jira-issue-updated", "sprint-started"]
    assert modules["jira:generalPages"][0]["key"] == "events-page"
    assert modules["jira:webItems"][0]["location"] == "system.top.navigation.bar"
    assert validation.manifest["permissions"]["scopes"] == [
        "read:connect-jira",
        "write:connect-jira",
        "act-as-user:connect-jira",
    ]


def test_needs_forge_app_id(tmp_path: Path) -> None:
    env = forge_env(tmp_path)
    del env["FORGE_APP_ID"]
    refused(
        run("forge", "manifest", env=env, cwd=tmp_path), "FORGE_APP_ID: not set", "forge register"
    )
    env["FORGE_APP_ID"] = "my-forge-app"
    refused(run("forge", "manifest", env=env, cwd=tmp_path), "FORGE_APP_ID: 'my-forge-app'")


@pytest.mark.parametrize("base_url", [None, "http://events.example.com"])
def test_refuses_a_base_url_that_is_not_https(tmp_path: Path, base_url: str | None) -> None:
    env = forge_env(tmp_path)
    if base_url is None:
        del env["ADDON_BASE_URL"]
    else:
        env["ADDON_BASE_URL"] = base_url
    refused(run("forge", "manifest", env=env, cwd=tmp_path), "ADDON_BASE_URL: ", "is not https")


def test_refuses_an_event_jira_would_never_send(tmp_path: Path) -> None:
    body = EXTRA_MODULES.replace('"sprint_started"', '"sprint_begun"')
    env = forge_env(tmp_path, ADDON_DESCRIPTOR_TEMPLATE=str(extra_template(tmp_path, body)))
    target = tmp_path / "forge-app"
    refused(
        run("forge", "manifest", "--output", str(target), env=env, cwd=tmp_path),
        "cannot make a Forge manifest",
        "unknown Connect event 'sprint_begun'",
    )
    assert not (target / "manifest.yml").exists()


@pytest.mark.parametrize("events", ["forge", "both"])
def test_events_chooses_the_door_of_jira_events(tmp_path: Path, events: str) -> None:
    env = forge_env(tmp_path)
    printed = run("forge", "manifest", "--events", events, env=env, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    (tmp_path / "manifest.yml").write_text(printed.stdout, encoding="utf-8")
    result = validate(tmp_path / "manifest.yml", "FULL", "PRODUCT_TRIGGER", "FORGE_REMOTE_COMPUTE")
    assert result.success, result.messages
    manifest = result.manifest
    assert "read:app-system-token" in manifest["permissions"]["scopes"]
    assert [e["route"]["path"] for e in manifest["modules"]["endpoint"]][:2] == [
        "/forge/events",
        "/forge/tick",
    ]
    assert ("jira:webhooks" in manifest["connectModules"]) is (events == "both")


def test_events_takes_only_its_choices(tmp_path: Path) -> None:
    result = run("forge", "manifest", "--events", "webhooks", env=forge_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "connect" in result.stderr and "forge" in result.stderr
