"""Settings: read once from the environment (and an optional `.env` file) into one typed object."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from starlette.config import Config

import descriptor
from addon.auth import DEFAULT_FORGE_JWKS_URL, DEFAULT_INSTALL_KEYS_URL

__all__ = ["Settings", "SettingsError", "load_settings"]

T = TypeVar("T")

KEY_PATTERN = re.compile(r"^[a-zA-Z0-9-._]+$")
REPO_TEMPLATE = Path(__file__).resolve().parent.parent / "atlassian-connect.json.j2"
DEFAULT_ATLASSIAN_SCOPES = (
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-webhook",
    "offline_access",
)
DEFAULT_SITE_WEBHOOK_EVENTS = (
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
)
# The events a dynamic webhook may name (Jira REST API v3, WebhookDetails.events:
# https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-webhooks/).
SITE_WEBHOOK_EVENT_CHOICES = frozenset(
    {*DEFAULT_SITE_WEBHOOK_EVENTS, "issue_property_set", "issue_property_deleted"}
)


class SettingsError(ValueError):
    """Invalid configuration; the message names the variable and says what is wrong."""


@dataclass(frozen=True, slots=True)
class Settings:
    base_url: str = "http://127.0.0.1:8000"
    base_url_configured: bool = False
    key: str = "jira-connect-addon"
    name: str = "Event Inbox for Jira"
    descriptor_template: Path = field(default_factory=lambda: _default_template())
    database_url: str = "sqlite:///addon.db"
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_leeway_seconds: int = 30
    install_keys_url: str = DEFAULT_INSTALL_KEYS_URL
    encryption_keys: tuple[bytes, ...] = ()
    inspector_username: str | None = None
    inspector_password: str | None = None
    inspector_login_attempts: int = 10
    forwarded_allow_ips: str = "127.0.0.1"
    max_body_bytes: int = 10 * 1024 * 1024
    rejected_log_limit: int = 10_000
    rejected_log_max_bytes: int = 64 * 1024 * 1024
    delivery_retention_days: int = 30
    handlers: str | None = None
    worker: str = "inline"
    handler_max_attempts: int = 8
    handler_lease_seconds: float = 30.0
    handler_concurrency: int = 8
    sqlite_synchronous: str = "NORMAL"
    tenant_cache_seconds: float = 0.5
    forge_app_id: str | None = None
    atlassian_client_id: str | None = None
    atlassian_client_secret: str | None = None
    atlassian_auth_url: str = "https://auth.atlassian.com"
    atlassian_api_url: str = "https://api.atlassian.com"
    atlassian_scopes: tuple[str, ...] = DEFAULT_ATLASSIAN_SCOPES
    site_webhook_events: tuple[str, ...] = DEFAULT_SITE_WEBHOOK_EVENTS
    site_webhook_refresh_days: int = 7
    forge_jwks_url: str = DEFAULT_FORGE_JWKS_URL
    unmapped_actors: str = "hold"
    jira_email_api: bool = False
    inspector_api_token: str | None = field(default=None, repr=False)
    sync_write: bool = False
    """The Connect descriptor asks for WRITE, which the sync needs to create and edit issues."""
    sync_lease_seconds: float = 120.0
    sync_search_lag_seconds: float = 60.0

    @property
    def base_path(self) -> str:
        """The path prefix of `base_url` ('' or e.g. '/jira-addon'), under which every route is served."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def inspector_enabled(self) -> bool:
        return bool(self.inspector_username and self.inspector_password)

    @property
    def oauth_enabled(self) -> bool:
        """The OAuth 2.0 door is on: the app's client id and secret are both set."""
        return bool(self.atlassian_client_id and self.atlassian_client_secret)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))


def _default_template() -> Path:
    return REPO_TEMPLATE if REPO_TEMPLATE.is_file() else Path(descriptor.DEFAULT_TEMPLATE_PATH)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Build `Settings` from `environ` (default: the process environment) and `env_file` if present."""
    source = os.environ if environ is None else environ
    if env_file is not None and not Path(env_file).is_file():
        env_file = None
    config = Config(env_file=env_file, environ=source)
    defaults = Settings()

    def read(name: str, cast: Callable[[str], T], default: T) -> T:
        raw = config(name, default=None)
        if raw is None:
            return default
        if not raw.strip():
            raise SettingsError(f"{name}: is set but empty; give it a value or unset it")
        try:
            return cast(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None

    port = read("PORT", _port, defaults.port)
    base_url = read("ADDON_BASE_URL", _base_url, None)
    settings = Settings(
        # Unset, the base URL is where `addon serve` listens by default; `addon serve` itself
        # derives it from the address it binds.
        base_url=base_url or f"http://127.0.0.1:{port}",
        base_url_configured=base_url is not None,
        key=read("ADDON_KEY", _addon_key, defaults.key),
        name=read("ADDON_NAME", _non_empty, defaults.name),
        descriptor_template=read(
            "ADDON_DESCRIPTOR_TEMPLATE", _readable_file, defaults.descriptor_template
        ),
        database_url=read("DATABASE_URL", _database_url, defaults.database_url),
        host=read("HOST", _non_empty, defaults.host),
        port=port,
        jwt_leeway_seconds=read(
            "JWT_LEEWAY_SECONDS", _bounded_int(0, 600), defaults.jwt_leeway_seconds
        ),
        install_keys_url=read("CONNECT_INSTALL_KEYS_URL", _http_url, defaults.install_keys_url),
        encryption_keys=read("ADDON_ENCRYPTION_KEY", _encryption_keys, defaults.encryption_keys),
        inspector_username=read("INSPECTOR_USERNAME", _non_empty, None),
        inspector_password=read("INSPECTOR_PASSWORD", _non_empty, None),
        inspector_login_attempts=read(
            "INSPECTOR_LOGIN_ATTEMPTS", _bounded_int(1, 10_000), defaults.inspector_login_attempts
        ),
        forwarded_allow_ips=read("FORWARDED_ALLOW_IPS", _non_empty, defaults.forwarded_allow_ips),
        max_body_bytes=read("MAX_BODY_BYTES", _bounded_int(1024, 1 << 31), defaults.max_body_bytes),
        rejected_log_limit=read(
            "REJECTED_LOG_LIMIT", _bounded_int(0, 10**8), defaults.rejected_log_limit
        ),
        rejected_log_max_bytes=read(
            "REJECTED_LOG_MAX_BYTES",
            _bounded_int(0, 1 << 40),
            defaults.rejected_log_max_bytes,
        ),
        delivery_retention_days=read(
            "DELIVERY_RETENTION_DAYS", _bounded_int(1, 36500), defaults.delivery_retention_days
        ),
        handlers=read("ADDON_HANDLERS", _import_spec, None),
        worker=read("ADDON_WORKER", _choice("inline", "external"), defaults.worker),
        handler_max_attempts=read(
            "HANDLER_MAX_ATTEMPTS", _bounded_int(1, 100), defaults.handler_max_attempts
        ),
        handler_lease_seconds=read(
            "HANDLER_LEASE_SECONDS", _bounded_float(1.0, 3600.0), defaults.handler_lease_seconds
        ),
        handler_concurrency=read(
            "HANDLER_CONCURRENCY", _bounded_int(1, 256), defaults.handler_concurrency
        ),
        sqlite_synchronous=read(
            "SQLITE_SYNCHRONOUS", _choice("NORMAL", "FULL"), defaults.sqlite_synchronous
        ),
        tenant_cache_seconds=read(
            "TENANT_CACHE_SECONDS", _bounded_float(0.0, 60.0), defaults.tenant_cache_seconds
        ),
        forge_app_id=read("FORGE_APP_ID", descriptor.forge_app_id, None),
        atlassian_client_id=read("ATLASSIAN_CLIENT_ID", _non_empty, None),
        atlassian_client_secret=read("ATLASSIAN_CLIENT_SECRET", _non_empty, None),
        atlassian_auth_url=read("ATLASSIAN_AUTH_URL", _base_url, defaults.atlassian_auth_url),
        atlassian_api_url=read("ATLASSIAN_API_URL", _base_url, defaults.atlassian_api_url),
        atlassian_scopes=read("ATLASSIAN_SCOPES", _scopes, defaults.atlassian_scopes),
        site_webhook_events=read(
            "SITE_WEBHOOK_EVENTS", _webhook_events, defaults.site_webhook_events
        ),
        site_webhook_refresh_days=read(
            "SITE_WEBHOOK_REFRESH_DAYS", _bounded_int(1, 29), defaults.site_webhook_refresh_days
        ),
        forge_jwks_url=read("FORGE_JWKS_URL", _http_url, defaults.forge_jwks_url),
        unmapped_actors=read(
            "UNMAPPED_ACTORS", _choice("hold", "skip", "deliver"), defaults.unmapped_actors
        ),
        jira_email_api=read("JIRA_EMAIL_API", _on_off, defaults.jira_email_api),
        inspector_api_token=read("INSPECTOR_API_TOKEN", _api_token, None),
        sync_write=read("SYNC_WRITE", _on_off, defaults.sync_write),
        sync_lease_seconds=read(
            "SYNC_LEASE_SECONDS", _bounded_float(1.0, 3600.0), defaults.sync_lease_seconds
        ),
        sync_search_lag_seconds=read(
            "SYNC_SEARCH_LAG_SECONDS",
            _bounded_float(0.0, 3600.0),
            defaults.sync_search_lag_seconds,
        ),
    )
    if bool(settings.inspector_username) != bool(settings.inspector_password):
        raise SettingsError("INSPECTOR_USERNAME and INSPECTOR_PASSWORD must be set together")
    if settings.inspector_api_token is not None and (
        settings.inspector_api_token == settings.inspector_password
    ):
        raise SettingsError(
            "INSPECTOR_API_TOKEN: must differ from INSPECTOR_PASSWORD (browsers resend Basic"
            " credentials to cross-site requests; the API token is never one of them)"
        )
    if bool(settings.atlassian_client_id) != bool(settings.atlassian_client_secret):
        raise SettingsError("ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET must be set together")
    return settings


def _non_empty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    return value.strip().rstrip("/")


def _base_url(value: str) -> str:
    url = _http_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return url


def _addon_key(value: str) -> str:
    if not KEY_PATTERN.match(value) or len(value) > 64:
        raise ValueError(
            f"{value!r} must be 1 to 64 characters of letters, digits, '-', '.' and '_'"
        )
    return value


def _readable_file(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"{value!r} is not a readable file")
    return path


def _database_url(value: str) -> str:
    value = value.strip()
    if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return value
    if value.startswith(("postgres://", "postgresql://")) and urlsplit(value).hostname:
        return value
    raise ValueError(
        f"{_redact_url(value)!r} must be sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    )


def _redact_url(value: str) -> str:
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", value)


def _port(value: str) -> int:
    return _bounded_int(0, 65535)(value)


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def cast(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"{number} is outside {low}..{high}")
        return number

    return cast


def _bounded_float(low: float, high: float) -> Callable[[str], float]:
    def cast(value: str) -> float:
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise ValueError(f"{number} is outside {low}..{high}")
        return number

    return cast


def _choice(*choices: str) -> Callable[[str], str]:
    def cast(value: str) -> str:
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
        raise ValueError(f"{value!r} must be one of {', '.join(choices)}")

    return cast


def _on_off(value: str) -> bool:
    return _choice("on", "off")(value) == "on"


def _api_token(value: str) -> str:
    token = value.strip()
    if len(token) < 32:
        raise ValueError(
            "must be at least 32 characters; make one with"
            " `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return token


def _import_spec(value: str) -> str:
    if not re.fullmatch(r"[\w.]+:[\w.]+", value.strip()):
        raise ValueError(f"{value!r} must look like 'package.module:attribute'")
    return value.strip()


def _encryption_keys(value: str) -> tuple[bytes, ...]:
    keys = []
    for index, item in enumerate(part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            key = base64.urlsafe_b64decode(item + "=" * (-len(item) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError(
                f"key {index + 1} is not 32 bytes of URL-safe base64; "
                "generate one with `addon keys generate`"
            )
        keys.append(key)
    if not keys:
        raise ValueError("no key given")
    return tuple(keys)


def _scopes(value: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(value.split()))
    if not scopes:
        raise ValueError("no scope given")
    return scopes


def _webhook_events(value: str) -> tuple[str, ...]:
    events = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [event for event in events if event not in SITE_WEBHOOK_EVENT_CHOICES]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not an event a dynamic webhook can name"
            f" ({', '.join(sorted(SITE_WEBHOOK_EVENT_CHOICES))})"
        )
    if not events:
        raise ValueError("no event given")
    return events
