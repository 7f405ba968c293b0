"""Settings: defaults, every variable validated with a message that names it, the .env file."""

from __future__ import annotations

from pathlib import Path

import pytest

from addon.settings import Settings, SettingsError, load_settings
from descriptor import name_problem


def load(env: dict[str, str], env_file: Path | None = None) -> Settings:
    return load_settings(env, env_file=env_file)


def test_defaults() -> None:
    settings = load({})
    assert settings.base_url == "http://127.0.0.1:8000"
    assert not settings.base_url_configured
    assert settings.base_path == ""
    assert settings.database_url == "sqlite:///addon.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.jwt_leeway_seconds == 30
    assert settings.install_keys_url == "https://connect-install-keys.atlassian.com"
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.rejected_log_limit == 10_000
    assert settings.delivery_retention_days == 30
    assert not settings.inspector_enabled
    assert settings.inspector_login_attempts == 10
    assert settings.encryption_keys == ()
    assert settings.descriptor_template.name == "atlassian-connect.json.j2"


def test_base_url_with_prefix() -> None:
    settings = load({"ADDON_BASE_URL": "https://example.com/jira-addon/"})
    assert settings.base_url == "https://example.com/jira-addon"
    assert settings.base_path == "/jira-addon"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ADDON_BASE_URL", "example.com"),
        ("ADDON_BASE_URL", "ftp://example.com"),
        ("ADDON_BASE_URL", "https://example.com/?a=1"),
        ("ADDON_BASE_URL", "https://example.com:99999"),
        ("ADDON_KEY", "has space"),
        ("ADDON_KEY", "k" * 65),
        ("ADDON_DESCRIPTOR_TEMPLATE", "/no/such/template.j2"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("DATABASE_URL", "sqlite://"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("JWT_LEEWAY_SECONDS", "-1"),
        ("CONNECT_INSTALL_KEYS_URL", "not a url"),
        ("ADDON_ENCRYPTION_KEY", "too-short"),
        ("MAX_BODY_BYTES", "1"),
        ("ADDON_HANDLERS", "no colon"),
        ("ADDON_WORKER", "sometimes"),
        ("SQLITE_SYNCHRONOUS", "OFF"),
        ("INSPECTOR_LOGIN_ATTEMPTS", "0"),
        ("INSPECTOR_LOGIN_ATTEMPTS", "many"),
    ],
)
def test_invalid_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load({variable: value})
    assert str(error.value).startswith(f"{variable}: ")
    assert "\n" not in str(error.value)


def test_database_password_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as error:
        load({"DATABASE_URL": "mysql://user:hunter2@localhost/db"})
    assert "hunter2" not in str(error.value)


def test_inspector_credentials_come_together() -> None:
    with pytest.raises(SettingsError, match="INSPECTOR_USERNAME and INSPECTOR_PASSWORD"):
        load({"INSPECTOR_USERNAME": "admin"})
    assert load({"INSPECTOR_USERNAME": "a", "INSPECTOR_PASSWORD": "b"}).inspector_enabled
    assert load({"INSPECTOR_LOGIN_ATTEMPTS": "50"}).inspector_login_attempts == 50


def test_encryption_keys_list(tmp_path: Path) -> None:
    from addon.store import generate_key

    first, second = generate_key(), generate_key()
    settings = load({"ADDON_ENCRYPTION_KEY": f"{first}, {second}"})
    assert len(settings.encryption_keys) == 2
    assert all(len(key) == 32 for key in settings.encryption_keys)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ADDON_KEY=from-file\nPORT=9000\n")
    settings = load({"PORT": "9100"}, env_file=env_file)
    assert settings.key == "from-file"
    assert settings.port == 9100


def test_the_default_name_keeps_atlassians_naming_rule() -> None:
    assert load({}).name == "Event Inbox for Jira"
    assert name_problem(load({}).name) is None
    assert load({"ADDON_NAME": "Jira Connect Add-on"}).name == "Jira Connect Add-on"  # kept


def test_forwarded_allow_ips_is_uvicorns_default_unless_set() -> None:
    assert load({}).forwarded_allow_ips == "127.0.0.1"
    assert load({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 127.0.0.1"}).forwarded_allow_ips == (
        "10.0.0.0/8, 127.0.0.1"
    )


def test_forge_app_id_is_normalised_to_its_ari() -> None:
    uuid = "0b7c9b9e-6c2a-4d8e-9a53-2f1e5c1e3a10"
    assert load({}).forge_app_id is None
    for value in (uuid, uuid.upper(), f"ari:cloud:ecosystem::app/{uuid}"):
        assert load({"FORGE_APP_ID": value}).forge_app_id == f"ari:cloud:ecosystem::app/{uuid}"


@pytest.mark.parametrize("value", ["my-app", "ari:cloud:ecosystem::app/1234", "12345678"])
def test_a_bad_forge_app_id_is_one_line_naming_it(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({"FORGE_APP_ID": value})
    message = str(caught.value)
    assert message.startswith("FORGE_APP_ID: ")
    assert "ari:cloud:ecosystem::app/<uuid>" in message
    assert "\n" not in message


def test_the_oauth_door_is_off_by_default_with_atlassians_urls_and_scopes() -> None:
    settings = load({})
    assert not settings.oauth_enabled
    assert settings.atlassian_auth_url == "https://auth.atlassian.com"
    assert settings.atlassian_api_url == "https://api.atlassian.com"
    assert settings.atlassian_scopes == (
        "read:jira-work",
        "write:jira-work",
        "read:jira-user",
        "manage:jira-webhook",
        "offline_access",
    )
    assert settings.site_webhook_events == (
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
    )
    assert settings.site_webhook_refresh_days == 7


def test_the_oauth_client_id_and_secret_come_together() -> None:
    for one in ({"ATLASSIAN_CLIENT_ID": "cid"}, {"ATLASSIAN_CLIENT_SECRET": "hunter2"}):
        with pytest.raises(SettingsError) as error:
            load(one)
        assert str(error.value) == (
            "ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET must be set together"
        )
    settings = load(
        {
            "ATLASSIAN_CLIENT_ID": "cid",
            "ATLASSIAN_CLIENT_SECRET": "secret",
            "ATLASSIAN_AUTH_URL": "http://127.0.0.1:8767/",
            "ATLASSIAN_API_URL": "http://127.0.0.1:8767",
            "ATLASSIAN_SCOPES": "read:jira-work  offline_access read:jira-work",
            "SITE_WEBHOOK_EVENTS": "jira:issue_updated, comment_created",
            "SITE_WEBHOOK_REFRESH_DAYS": "10",
        }
    )
    assert settings.oauth_enabled
    assert settings.atlassian_auth_url == settings.atlassian_api_url == "http://127.0.0.1:8767"
    assert settings.atlassian_scopes == ("read:jira-work", "offline_access")
    assert settings.site_webhook_events == ("jira:issue_updated", "comment_created")
    assert settings.site_webhook_refresh_days == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SITE_WEBHOOK_EVENTS", "jira:issue_updated,sprint_started", "sprint_started"),
        ("SITE_WEBHOOK_EVENTS", " , ", "no event given"),
        ("SITE_WEBHOOK_REFRESH_DAYS", "30", "outside 1..29"),
        ("ATLASSIAN_AUTH_URL", "auth.atlassian.com", "not an http(s) URL"),
        ("ATLASSIAN_SCOPES", "   ", "set but empty"),
    ],
)
def test_oauth_settings_are_validated(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load({name: value})
    assert str(error.value).startswith(f"{name}: ") and message in str(error.value)


def test_forge_jwks_url_defaults_to_atlassians_and_takes_an_http_url() -> None:
    assert load({}).forge_jwks_url == (
        "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    )
    local = "http://127.0.0.1:8766/.well-known/jwks.json"
    assert load({"FORGE_JWKS_URL": local}).forge_jwks_url == local
    with pytest.raises(SettingsError, match=r"^FORGE_JWKS_URL: "):
        load({"FORGE_JWKS_URL": "ftp://keys.example.com/jwks.json"})


def test_people_settings_default_to_hold_no_email_api_and_no_api_token() -> None:
    settings = load({})
    assert (settings.unmapped_actors, settings.jira_email_api, settings.inspector_api_token) == (
        "hold",
        False,
        None,
    )
    token = "t" * 32
    chosen = load({"UNMAPPED_ACTORS": "Skip", "JIRA_EMAIL_API": "ON", "INSPECTOR_API_TOKEN": token})
    assert (chosen.unmapped_actors, chosen.jira_email_api, chosen.inspector_api_token) == (
        "skip",
        True,
        token,
    )
    assert token not in repr(chosen)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("UNMAPPED_ACTORS", "drop", "must be one of hold, skip, deliver"),
        ("JIRA_EMAIL_API", "yes", "must be one of on, off"),
        ("INSPECTOR_API_TOKEN", "short", "at least 32 characters"),
    ],
)
def test_people_settings_refuse_bad_values(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}: .*{message}"):
        load({variable: value})


def test_the_api_token_is_never_the_inspector_password() -> None:
    secret = "s" * 40
    with pytest.raises(SettingsError, match=r"^INSPECTOR_API_TOKEN: must differ"):
        load(
            {
                "INSPECTOR_USERNAME": "admin",
                "INSPECTOR_PASSWORD": secret,
                "INSPECTOR_API_TOKEN": secret,
            }
        )


def test_sync_write_is_off_by_default_and_turns_on_the_descriptors_write_scope() -> None:
    from addon.connect import render_for

    assert load({}).sync_write is False
    settings = load({"SYNC_WRITE": "on"})
    assert settings.sync_write is True
    assert render_for(settings).document["scopes"] == ["READ", "WRITE"]
    assert render_for(load({})).document["scopes"] == ["READ"]
    with pytest.raises(SettingsError):
        load({"SYNC_WRITE": "maybe"})
