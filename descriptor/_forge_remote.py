"""The Forge Remote side of a Forge manifest: triggers on the Forge events that bring the
webhooks' Connect events and on the app's lifecycle, the hourly scheduled trigger, the
`preUninstall`, their endpoints on the remote (with the app's system token), and the scopes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from descriptor._catalogue import lookup
from descriptor._forge_connect import ModuleKeys
from descriptor._product_events import LIFECYCLE_EVENTS, product_event, product_event_for

__all__ = [
    "CONNECT_EMAIL_SCOPE",
    "FORGE_EMAIL_SCOPE",
    "FORGE_ROUTES",
    "REMOTE_KEY",
    "SYSTEM_TOKEN_SCOPE",
    "event_scopes",
    "forge_events",
    "forge_modules",
]

REMOTE_KEY = "connect"
"""The key of the one remote: the Connect backend, at the descriptor's baseUrl."""

FORGE_ROUTES: Mapping[str, str] = MappingProxyType(
    {"events": "/forge/events", "tick": "/forge/tick", "uninstall": "/forge/uninstall"}
)
"""The add-on's Forge Remote routes, under its baseUrl: triggers and lifecycle events, the hourly
scheduled trigger, and the `preUninstall` call."""

SYSTEM_TOKEN_SCOPE = "read:app-system-token"
"""Lets Forge send the app's system token (`x-forge-oauth-system`) with each call."""
CONNECT_EMAIL_SCOPE = "access-email-addresses:connect-jira"
FORGE_EMAIL_SCOPE = "read:email-address:jira"
"""Jira's email API for Forge Remote (asApp): "View email addresses of all users regardless of
user's profile visibility settings"; asked for with the descriptor's ACCESS_EMAIL_ADDRESSES."""

_ENDPOINT_AUTH: Mapping[str, Any] = MappingProxyType({"appSystemToken": {"enabled": True}})
_FORGE_MODULE_KEYS = {
    "events": "forge-events",
    "tick": "forge-tick",
    "uninstall": "forge-uninstall",
    "jira": "forge-jira-events",
    "lifecycle": "forge-lifecycle",
    "schedule": "forge-hourly",
}


def forge_events(
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


def event_scopes(names: list[str]) -> list[str]:
    """The scopes a trigger on each of these events needs, once each."""
    scopes: list[str] = []
    for name in names:
        event = product_event(name)
        for scope in event.scopes if event is not None else ():
            if scope not in scopes:
                scopes.append(scope)
    return scopes


def forge_modules(events: list[str], keys: ModuleKeys, problems: list[str]) -> dict[str, Any]:
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
