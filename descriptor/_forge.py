"""A Forge manifest (`manifest.yml`) for the Connect app a rendered descriptor describes.

Since 2026-03-31 Jira Cloud installs a private Connect app only through Forge: a Forge app whose
manifest names the Connect key (`app.connect`), the Connect backend (`remotes`) and the Connect
modules (`connectModules`), as in Atlassian's "Adopting Forge from Connect" guide and the hybrid
manifest of GitHub `forge-sql-orm/atlassian-runtime-bridge`
(`examples/atlassian-connect-forge-spring-boot-sample/manifest.yml`).

Atlassian's validator (npm `@forge/manifest`) accepts things Jira would not act on: a
`jira:lifecycle` without `installed`, webhook events that do not exist, an `http` base URL. The
manifest is refused here for those, with the reason.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from descriptor._catalogue import closest, lookup
from descriptor._errors import DescriptorError
from descriptor._product_events import LIFECYCLE_EVENTS, product_event, product_event_for
from descriptor._render import lifecycle_paths, webhook_entries

__all__ = [
    "APP_ARI_PREFIX",
    "EVENT_DOORS",
    "FORGE_ROUTES",
    "FORGE_RUNTIME",
    "FORGE_SCOPES",
    "INSTALLATION_ARI_PREFIX",
    "REMOTE_KEY",
    "ManifestError",
    "forge_app_id",
    "forge_installation_id",
    "forge_manifest",
]

APP_ARI_PREFIX = "ari:cloud:ecosystem::app/"
INSTALLATION_ARI_PREFIX = "ari:cloud:ecosystem::installation/"
REMOTE_KEY = "connect"
"""The key of the one remote: the Connect backend, at the descriptor's baseUrl."""
FORGE_RUNTIME = "nodejs22.x"
"""A runtime the validator accepts (nodejs20.x, nodejs22.x, nodejs24.x in @forge/manifest 13.7.0);
the app runs no function, but Forge wants one named."""

FORGE_SCOPES: Mapping[str, str] = MappingProxyType(
    {
        "READ": "read:connect-jira",
        "WRITE": "write:connect-jira",
        "DELETE": "delete:connect-jira",
        "PROJECT_ADMIN": "project-admin:connect-jira",
        "ADMIN": "admin:connect-jira",
        "ACT_AS_USER": "act-as-user:connect-jira",
        "ACCESS_EMAIL_ADDRESSES": "access-email-addresses:connect-jira",
    }
)
"""Each Connect scope for Jira and its Forge name, as listed in @forge/manifest 13.7.0
(`out/scopes/shipyard-scopes.json`). NONE needs no declaration in either."""

EVENT_DOORS = ("connect", "forge", "both")
"""How Jira events reach the add-on: Connect webhooks (the default), Forge triggers, or both."""

FORGE_ROUTES: Mapping[str, str] = MappingProxyType(
    {"events": "/forge/events", "tick": "/forge/tick", "uninstall": "/forge/uninstall"}
)
"""The add-on's Forge Remote routes, under its baseUrl: triggers and lifecycle events, the hourly
scheduled trigger, and the `preUninstall` call."""

SYSTEM_TOKEN_SCOPE = "read:app-system-token"
CONNECT_EMAIL_SCOPE = "access-email-addresses:connect-jira"
FORGE_EMAIL_SCOPE = "read:email-address:jira"
"""Jira's email API for Forge Remote (asApp): "View email addresses of all users regardless of
user's profile visibility settings"; asked for with the descriptor's ACCESS_EMAIL_ADDRESSES."""
"""Lets Forge send the app's system token (`x-forge-oauth-system`) with each call."""

_ENDPOINT_AUTH: Mapping[str, Any] = MappingProxyType({"appSystemToken": {"enabled": True}})
_FORGE_MODULE_KEYS = {
    "events": "forge-events",
    "tick": "forge-tick",
    "uninstall": "forge-uninstall",
    "jira": "forge-jira-events",
    "lifecycle": "forge-lifecycle",
    "schedule": "forge-hourly",
}

_CONNECT_KEY = re.compile(r"[a-zA-Z0-9\-._]{1,90}")
_MODULE_KEY = re.compile(r"[a-zA-Z0-9_-]+")
_MODULE_KEY_MAX_LENGTH = 100
_LIFECYCLE_KEY = "lifecycle"


class ManifestError(DescriptorError):
    """The descriptor cannot become a Forge manifest; `problems` says why, each on its own."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def forge_app_id(value: str) -> str:
    """The app's ARI from what `forge register` gives: the ARI itself, or its bare UUID.

    Raises ValueError saying what the value should look like.
    """
    return _ari(APP_ARI_PREFIX, value, "a Forge app id", "as `forge register` prints it")


def forge_installation_id(value: str) -> str:
    """A Forge installation's ARI, from the ARI (as in a Connect-on-Forge `installed` payload,
    "Retrieving the Connect clientKey in Forge") or its bare UUID (as in Forge lifecycle events).

    Raises ValueError saying what the value should look like.
    """
    return _ari(INSTALLATION_ARI_PREFIX, value, "a Forge installation id", "")


def _ari(prefix: str, value: str, what: str, where: str) -> str:
    text = value.strip()
    bare = text.removeprefix(prefix)
    try:
        parsed = uuid.UUID(bare)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != bare.lower():
        shown = value if len(value) <= 100 else value[:100] + "..."
        raise ValueError(
            f"{shown!r} is not {what}: expected {prefix}<uuid> or the bare <uuid>"
            + (f", {where}" if where else "")
        )
    return prefix + str(parsed)


def forge_manifest(
    descriptor: Mapping[str, Any], *, app_id: str, events: str = "connect"
) -> dict[str, Any]:
    """The Forge manifest for a rendered descriptor, as plain data (write it with `to_yaml`).

    `events` says how the descriptor's Jira events arrive: `connect` (its webhooks, as Connect
    modules), `forge` (a Forge trigger on each one's Forge event, through Forge Remote), or
    `both` (every change then arrives twice, by two doors). With `forge` or `both` the manifest
    also has the Forge Remote side: a trigger on the app's installed and upgraded events, an
    hourly scheduled trigger, a `preUninstall`, their endpoints (with the system token), and
    the scopes they need.

    Raises ManifestError naming every part that Forge or Jira would not act on.
    """
    if events not in EVENT_DOORS:
        raise ManifestError([f"events {events!r}: expected one of {', '.join(EVENT_DOORS)}"])
    problems: list[str] = []
    try:
        ari = forge_app_id(app_id)
    except ValueError as exc:
        problems.append(f"app id: {exc}")
        ari = app_id
    key = descriptor.get("key")
    if not isinstance(key, str) or not _CONNECT_KEY.fullmatch(key):
        problems.append(
            f"key {key!r}: Forge takes 1 to 90 letters, digits, '-', '.' and '_' as app.connect.key"
        )
    base_url = descriptor.get("baseUrl")
    problems.extend(_base_url_problems(base_url))

    keys = _Keys()
    lifecycle = _lifecycle(descriptor, keys, problems)
    others = _other_modules(descriptor, keys, problems)  # their keys are fixed: claimed first
    webhooks = _webhooks(descriptor, keys, problems)
    forge_events = _forge_events(webhooks, problems, required=events == "forge")
    modules: dict[str, Any] = {"jira:lifecycle": [lifecycle]}
    if webhooks and events != "forge":
        modules["jira:webhooks"] = webhooks
    modules.update(others)
    scopes = _scopes(descriptor.get("scopes", []), problems)
    forge_modules: dict[str, Any] = {}
    if events != "connect":
        forge_modules = _forge_modules(forge_events, keys, problems)
        email = [FORGE_EMAIL_SCOPE] if CONNECT_EMAIL_SCOPE in scopes else []
        for scope in (SYSTEM_TOKEN_SCOPE, *_event_scopes(forge_events), *email):
            if scope not in scopes:
                scopes.append(scope)
    if problems:
        raise ManifestError(problems)

    manifest: dict[str, Any] = {
        "app": {
            "id": ari,
            "connect": {"key": key, "remote": REMOTE_KEY, "authentication": "jwt"},
            "runtime": {"name": FORGE_RUNTIME},
        },
        "remotes": [{"key": REMOTE_KEY, "baseUrl": base_url}],
        "connectModules": modules,
    }
    if forge_modules:
        manifest["modules"] = forge_modules
    if scopes:
        manifest["permissions"] = {"scopes": scopes}
    return manifest


def _base_url_problems(base_url: object) -> list[str]:
    if not isinstance(base_url, str) or not base_url:
        return ["baseUrl: missing; the manifest's remote needs it"]
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        return [
            f"baseUrl {base_url!r}: Forge reaches a remote only over https; "
            "serve the add-on at a public https address"
        ]
    if parts.query or parts.fragment:
        return [f"baseUrl {base_url!r}: must not carry a query or a fragment"]
    return []


class _Keys:
    """Module keys handed out so far: every key in a manifest must be unique."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, key: str) -> bool:
        if key in self._taken:
            return False
        self._taken.add(key)
        return True

    def derive(self, text: str) -> str:
        """A free key made from `text` (an event name): lower-case words joined by '-'."""
        base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "webhook"
        candidate, number = base, 1
        while not self.claim(candidate):
            number += 1
            candidate = f"{base}-{number}"
        return candidate


def _path_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//"):
        return "must be a path relative to baseUrl, starting with '/'"
    return None


def _lifecycle(descriptor: Mapping[str, Any], keys: _Keys, problems: list[str]) -> dict[str, str]:
    paths = lifecycle_paths(descriptor)
    if "installed" not in paths:
        problems.append(
            "lifecycle.installed: missing; Jira sends the shared secret only to it, and without "
            "the secret no webhook from the site can be verified"
        )
    for name, url in paths.items():
        if problem := _path_problem(url):
            problems.append(f"lifecycle.{name} ({url}): {problem}")
    keys.claim(_LIFECYCLE_KEY)
    return {"key": _LIFECYCLE_KEY, **paths}


def _event_problem(event: object) -> str | None:
    if not isinstance(event, str) or not event:
        return "'event' is missing or not a non-empty string"
    if lookup(event) is not None:
        return None
    if event.startswith("avi:"):
        return (
            f"{event!r} is a Forge product event name, which a Connect webhook cannot take; "
            "use the Connect event name (e.g. jira:issue_updated)"
        )
    suggestions = closest(event)
    names = ", ".join(suggestions[:-1]) + " or " + suggestions[-1] if suggestions[1:] else ""
    hint = f"; did you mean {names or ''.join(suggestions)}?" if suggestions else ""
    return f"unknown Connect event {event!r}: Jira would never send it{hint}"


def _webhooks(
    descriptor: Mapping[str, Any], keys: _Keys, problems: list[str]
) -> list[dict[str, Any]]:
    entries = webhook_entries(descriptor)
    if entries is None:
        problems.append("modules.webhooks: must be a list")
        return []
    webhooks = []
    for index, entry in enumerate(entries):
        label = f"modules.webhooks[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{label}: must be an object")
            continue
        event, url = entry.get("event"), entry.get("url")
        if problem := _event_problem(event):
            problems.append(f"{label}: {problem}")
        if problem := _path_problem(url):
            problems.append(f"{label} (url {url}): {problem}")
        webhooks.append({"key": keys.derive(str(event)), **entry})
    return webhooks


def _other_modules(
    descriptor: Mapping[str, Any], keys: _Keys, problems: list[str]
) -> dict[str, list[Any]]:
    """Every module type besides webhooks, as `jira:<type>`; a single object becomes a list."""
    modules = descriptor.get("modules", {})
    if not isinstance(modules, Mapping):
        problems.append("modules: must be an object")
        return {}
    carried: dict[str, list[Any]] = {}
    for kind, value in modules.items():
        if kind == "webhooks":
            continue
        entries = value if isinstance(value, list) else [value]
        for index, entry in enumerate(entries):
            label = f"modules.{kind}[{index}]"
            module_key = entry.get("key") if isinstance(entry, Mapping) else None
            if not isinstance(entry, Mapping):
                problems.append(f"{label}: must be an object")
            elif (
                not isinstance(module_key, str)
                or not _MODULE_KEY.fullmatch(module_key)
                or len(module_key) > _MODULE_KEY_MAX_LENGTH
            ):
                problems.append(
                    f"{label}: 'key' {module_key!r} must be 1 to {_MODULE_KEY_MAX_LENGTH} "
                    "letters, digits, '-' and '_'"
                )
            elif not keys.claim(module_key):
                problems.append(f"{label}: key {module_key!r} is already used by another module")
        carried[f"jira:{kind}"] = entries
    return carried


def _scopes(scopes: object, problems: list[str]) -> list[str]:
    if not isinstance(scopes, list):
        problems.append("scopes: must be a list")
        return []
    forge: list[str] = []
    for scope in scopes:
        name = scope.upper() if isinstance(scope, str) else scope
        if name == "NONE":
            continue
        mapped = FORGE_SCOPES.get(name) if isinstance(name, str) else None
        if mapped is None:
            problems.append(
                f"scopes: {scope!r} is not a Connect scope for Jira "
                f"(known: {', '.join(FORGE_SCOPES)})"
            )
        elif mapped not in forge:
            forge.append(mapped)
    return forge


def _forge_events(
    webhooks: list[dict[str, Any]], problems: list[str], *, required: bool
) -> list[str]:
    """The Forge events that bring the webhooks' Connect events, once each, in their order."""
    names: list[str] = []
    for index, webhook in enumerate(webhooks):
        event = webhook.get("event")
        found = product_event_for(event) if isinstance(event, str) else None
        if found is None:
            if required and isinstance(event, str) and lookup(event) is not None:
                problems.append(
                    f"modules.webhooks[{index}]: {event} has no Forge event, so with --events"
                    " forge it would never arrive; use --events both, or drop the webhook"
                )
            continue
        if found.name not in names:
            names.append(found.name)
    return names


def _event_scopes(names: list[str]) -> list[str]:
    """The scopes a trigger on each of these events needs, once each."""
    scopes: list[str] = []
    for name in names:
        event = product_event(name)
        for scope in event.scopes if event is not None else ():
            if scope not in scopes:
                scopes.append(scope)
    return scopes


def _forge_modules(events: list[str], keys: _Keys, problems: list[str]) -> dict[str, Any]:
    """Triggers, the hourly scheduled trigger, preUninstall and their endpoints on the remote."""
    for key in (*_FORGE_MODULE_KEYS.values(), "forge-pre-uninstall"):
        if not keys.claim(key):
            problems.append(f"module key {key!r} is taken by a Connect module; rename that module")
    names = _FORGE_MODULE_KEYS
    triggers: list[dict[str, Any]] = []
    if events:
        triggers.append({"key": names["jira"], "endpoint": names["events"], "events": events})
    triggers.append(
        {"key": names["lifecycle"], "endpoint": names["events"], "events": list(LIFECYCLE_EVENTS)}
    )
    return {
        "trigger": triggers,
        "scheduledTrigger": [
            {"key": names["schedule"], "endpoint": names["tick"], "interval": "hour"}
        ],
        "preUninstall": [{"key": "forge-pre-uninstall", "endpoint": names["uninstall"]}],
        "endpoint": [
            {
                "key": names[route],
                "remote": REMOTE_KEY,
                "route": {"path": path},
                "auth": {name: dict(value) for name, value in _ENDPOINT_AUTH.items()},
            }
            for route, path in FORGE_ROUTES.items()
        ],
    }
