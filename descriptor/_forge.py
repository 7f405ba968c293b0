"""A Forge manifest (`manifest.yml`) for the Connect app a rendered descriptor describes.

Since 2026-03-31 Jira Cloud installs a private Connect app only through Forge: a Forge app whose
manifest names the Connect key (`app.connect`), the Connect backend (`remotes`) and the Connect
modules (`connectModules`), as in Atlassian's "Adopting Forge from Connect" guide and the hybrid
manifest of GitHub `forge-sql-orm/atlassian-runtime-bridge`
(`examples/atlassian-connect-forge-spring-boot-sample/manifest.yml`).

Atlassian's validator (npm `@forge/manifest`) accepts things Jira would not act on: a
`jira:lifecycle` without `installed`, webhook events that do not exist, an `http` base URL. The
manifest is refused here for those, with the reason.

Its parts: the ids in `_forge_ids`, the Connect side in `_forge_connect`, the Forge Remote side in
`_forge_remote`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from descriptor._errors import DescriptorError
from descriptor._forge_connect import (
    ModuleKeys,
    base_url_problems,
    connect_scopes,
    lifecycle_module,
    other_modules,
    webhook_modules,
)
from descriptor._forge_ids import forge_app_id
from descriptor._forge_remote import (
    CONNECT_EMAIL_SCOPE,
    FORGE_EMAIL_SCOPE,
    REMOTE_KEY,
    SYSTEM_TOKEN_SCOPE,
    event_scopes,
    forge_events,
    forge_modules,
)

__all__ = ["EVENT_DOORS", "FORGE_RUNTIME", "ManifestError", "forge_manifest"]

FORGE_RUNTIME = "nodejs22.x"
"""A runtime the validator accepts (nodejs20.x, nodejs22.x, nodejs24.x in @forge/manifest 13.7.0);
the app runs no function, but Forge wants one named."""

EVENT_DOORS = ("connect", "forge", "both")
"""How Jira events reach the add-on: Connect webhooks (the default), Forge triggers, or both."""

_CONNECT_KEY = re.compile(r"[a-zA-Z0-9\-._]{1,90}")


class ManifestError(DescriptorError):
    """The descriptor cannot become a Forge manifest; `problems` says why, each on its own."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


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
    problems.extend(base_url_problems(base_url))

    keys = ModuleKeys()
    lifecycle = lifecycle_module(descriptor, keys, problems)
    others = other_modules(descriptor, keys, problems)  # their keys are fixed: claimed first
    webhooks = webhook_modules(descriptor, keys, problems)
    triggered = forge_events(webhooks, problems, required=events == "forge")
    modules: dict[str, Any] = {"jira:lifecycle": [lifecycle]}
    if webhooks and events != "forge":
        modules["jira:webhooks"] = webhooks
    modules.update(others)
    scopes = connect_scopes(descriptor.get("scopes", []), problems)
    remote_modules: dict[str, Any] = {}
    if events != "connect":
        remote_modules = forge_modules(triggered, keys, problems)
        email = [FORGE_EMAIL_SCOPE] if CONNECT_EMAIL_SCOPE in scopes else []
        for scope in (SYSTEM_TOKEN_SCOPE, *event_scopes(triggered), *email):
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
    if remote_modules:
        manifest["modules"] = remote_modules
    if scopes:
        manifest["permissions"] = {"scopes": scopes}
    return manifest
