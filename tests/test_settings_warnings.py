"""Settings that work but should change: one warning line each, at start and where they matter."""

from __future__ import annotations

from pathlib import Path

from addon.settings import Settings
from addon.settings_warnings import encryption_warning, name_warning, settings_warnings
from addon.store import generate_key
from tests.support.live import LiveServer

HTTPS = "https://addon.example.com"


def test_plaintext_secrets_are_warned_about_only_on_https() -> None:
    warning = encryption_warning(Settings(base_url=HTTPS))
    assert warning is not None and warning.startswith("ADDON_ENCRYPTION_KEY is not set")
    assert "ADDON_BASE_URL is https" in warning and "\n" not in warning
    key = (b"k" * 32,)
    assert encryption_warning(Settings(base_url=HTTPS, encryption_keys=key)) is None
    assert encryption_warning(Settings(base_url="http://localhost:8000")) is None


def test_a_name_that_breaks_atlassians_rule_is_warned_about() -> None:
    warning = name_warning(Settings(name="Jira Connect Add-on"))
    assert warning is not None and "\n" not in warning
    assert warning.startswith("ADDON_NAME 'Jira Connect Add-on' breaks Atlassian's naming rule")
    assert "may not start with an Atlassian product name" in warning
    assert '"... for Jira"' in warning and "it starts with Jira" in warning
    assert name_warning(Settings()) is None
    assert name_warning(Settings(name="Event Inbox for Jira")) is None


def test_the_defaults_call_for_no_warning() -> None:
    assert settings_warnings(Settings()) == []


def test_a_real_server_says_each_once_at_start(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/addon.db",
        "ADDON_BASE_URL": HTTPS,
        "ADDON_NAME": "Jira Connect Add-on",
    }
    with LiveServer(env, log_dir=tmp_path) as server:
        pass
    lines = server.log().splitlines()
    [encryption] = [line for line in lines if "ADDON_ENCRYPTION_KEY" in line]
    [name] = [line for line in lines if "ADDON_NAME" in line]
    assert encryption.startswith("WARNING:") and name.startswith("WARNING:")
    assert "naming rule" in name


def test_a_well_configured_server_says_neither(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/addon.db",
        "ADDON_BASE_URL": HTTPS,
        "ADDON_ENCRYPTION_KEY": generate_key(),
    }
    with LiveServer(env, log_dir=tmp_path) as server:
        pass
    assert "ADDON_ENCRYPTION_KEY" not in server.log() and "ADDON_NAME" not in server.log()
