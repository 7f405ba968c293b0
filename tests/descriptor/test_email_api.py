"""JIRA_EMAIL_API: off by default (declaring the scope without Atlassian's approval makes installs
fail); on, the descriptor asks for ACCESS_EMAIL_ADDRESSES and the Forge manifest for the Connect
scope and, with Forge Remote, for `read:email-address:jira`."""

from __future__ import annotations

from pathlib import Path

import descriptor
from addon.connect import render_for
from addon.settings import Settings

APP_ID = "ari:cloud:ecosystem::app/12345678-1234-1234-1234-123456789abc"
BASE = "https://addon.example.com"


def scopes_of(email_api: bool, events: str = "forge") -> tuple[list[str], list[str]]:
    rendered = render_for(Settings(base_url=BASE, jira_email_api=email_api))
    manifest = descriptor.forge_manifest(rendered.document, app_id=APP_ID, events=events)
    return rendered.document["scopes"], manifest["permissions"]["scopes"]


def test_off_by_default_asks_for_no_email_scope() -> None:
    assert Settings().jira_email_api is False
    connect, forge = scopes_of(False)
    assert connect == ["READ"]
    assert not any("email" in scope for scope in forge)


def test_on_asks_for_the_email_api_in_the_descriptor_and_the_manifest() -> None:
    connect, forge = scopes_of(True)
    assert connect == ["READ", "ACCESS_EMAIL_ADDRESSES"]
    assert "access-email-addresses:connect-jira" in forge
    assert "read:email-address:jira" in forge
    _, connect_only = scopes_of(True, events="connect")
    assert "access-email-addresses:connect-jira" in connect_only
    assert "read:email-address:jira" not in connect_only


def test_atlassian_s_validator_accepts_the_email_scopes(tmp_path: Path) -> None:
    from tests.descriptor.test_forge import validated

    rendered = render_for(Settings(base_url=BASE, jira_email_api=True))
    for events in ("connect", "forge"):
        directory = tmp_path / events
        directory.mkdir()
        validated(
            descriptor.forge_manifest(rendered.document, app_id=APP_ID, events=events), directory
        )
