"""The Connect side of a Forge manifest: the descriptor's lifecycle, webhooks, other modules and
scopes as `connectModules` and Forge scopes, each checked for what Forge or Jira would not act on
(every problem is appended to the caller's list, with its reason)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from descriptor._catalogue import closest, lookup
from descriptor._render import lifecycle_paths, webhook_entries

__all__ = [
    "FORGE_SCOPES",
    "ModuleKeys",
    "base_url_problems",
    "connect_scopes",
    "lifecycle_module",
    "other_modules",
    "webhook_modules",
]

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

_MODULE_KEY = re.compile(r"[a-zA-Z0-9_-]+")
_MODULE_KEY_MAX_LENGTH = 100
_LIFECYCLE_KEY = "lifecycle"


class ModuleKeys:
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


def base_url_problems(base_url: object) -> list[str]:
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


def _path_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//"):
        return "must be a path relative to baseUrl, starting with '/'"
    return None


def lifecycle_module(
    descriptor: Mapping[str, Any], keys: ModuleKeys, problems: list[str]
) -> dict[str, str]:
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


def webhook_modules(
    descriptor: Mapping[str, Any], keys: ModuleKeys, problems: list[str]
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


def other_modules(
    descriptor: Mapping[str, Any], keys: ModuleKeys, problems: list[str]
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


def connect_scopes(scopes: object, problems: list[str]) -> list[str]:
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
