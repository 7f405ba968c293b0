"""Check a rendered descriptor before the server starts with it.

Errors are mistakes that would make Jira refuse the descriptor, or make the server unable to tell
its webhooks and lifecycle callbacks apart; the server refuses to start on them. Warnings are things
that may be intended, such as an event name the catalogue does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from descriptor._catalogue import (
    DEPRECATED_EVENTS,
    DEPRECATED_PARAMETERS,
    closest,
    events,
    lookup,
)
from descriptor._errors import DescriptorError
from descriptor._render import (
    LIFECYCLE_EVENTS,
    lifecycle_paths,
    module_label,
    option_problems,
    webhook_entries,
)
from descriptor._urls import UrlTemplate

__all__ = ["CheckResult", "check_descriptor"]

KEY_PATTERN = re.compile(r"[a-zA-Z0-9\-._]+")
KEY_MAX_LENGTH = 64
BASE_URL_MAX_LENGTH = 200
REQUIRED_LIFECYCLE = ("installed", "uninstalled")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What `check_descriptor` found: errors stop start-up, warnings are only reported."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def _relative_problem(url: object) -> str | None:
    """Why `url` is not a path relative to the app's baseUrl, or None if it is one."""
    if not isinstance(url, str):
        return "must be a string"
    if not url:
        return "is empty"
    if url.startswith("//"):
        return "is protocol-relative (//host); it must be a path relative to baseUrl"
    if _SCHEME.match(url):
        return "is absolute; it must be a path relative to baseUrl, starting with '/'"
    if not url.startswith("/"):
        return "must start with '/' (it is relative to baseUrl)"
    return None


def _names(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def _check_top(descriptor: Mapping[str, Any], errors: list[str]) -> None:
    key = descriptor.get("key")
    if not isinstance(key, str) or not key:
        errors.append("key: missing or not a non-empty string")
    elif not KEY_PATTERN.fullmatch(key):
        errors.append(f"key {key!r}: only letters, digits, '-', '.' and '_' are allowed")
    elif len(key) > KEY_MAX_LENGTH:
        errors.append(f"key {key!r}: {len(key)} characters, at most {KEY_MAX_LENGTH} are allowed")

    base_url = descriptor.get("baseUrl")
    if not isinstance(base_url, str) or not base_url:
        errors.append("baseUrl: missing or not a non-empty string")
    else:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(f"baseUrl {base_url!r}: must be an http(s) URL with a host")
        elif parts.query or parts.fragment:
            errors.append(f"baseUrl {base_url!r}: must not carry a query or a fragment")
        elif len(base_url) > BASE_URL_MAX_LENGTH:
            errors.append(f"baseUrl: longer than {BASE_URL_MAX_LENGTH} characters")

    authentication = descriptor.get("authentication")
    kind = authentication.get("type") if isinstance(authentication, Mapping) else None
    if not isinstance(kind, str) or kind.lower() != "jwt":
        errors.append(
            'authentication: must be {"type": "jwt"}; the server verifies every call\'s JWT'
        )

    lifecycle = descriptor.get("lifecycle")
    if not isinstance(lifecycle, Mapping):
        errors.append("lifecycle: missing or not an object")
        return
    seen: dict[str, str] = {}
    for name in LIFECYCLE_EVENTS:
        url = lifecycle.get(name)
        if url is None:
            if name in REQUIRED_LIFECYCLE:
                errors.append(f"lifecycle.{name}: missing; the server needs it")
            continue
        problem = _relative_problem(url)
        if problem:
            errors.append(f"lifecycle.{name} ({url}): {problem}")
        elif url in seen:
            errors.append(f"lifecycle.{name} ({url}): same URL as lifecycle.{seen[url]}")
        else:
            seen[url] = name


def _check_webhook(
    index: int, entry: object, errors: list[str], warnings: list[str]
) -> UrlTemplate | None:
    """Check one webhook entry; its URL template if that is usable, for the collision checks."""
    label = module_label(index, entry)
    if not isinstance(entry, Mapping):
        errors.append(f"{label}: must be an object")
        return None
    event_name, url = entry.get("event"), entry.get("url")
    if event_name is None:
        errors.append(f"{label}: missing 'event'")
    elif not isinstance(event_name, str) or not event_name:
        errors.append(f"{label}: 'event' must be a non-empty string")
    template: UrlTemplate | None = None
    if url is None:
        errors.append(f"{label}: missing 'url'")
    elif problem := _relative_problem(url):
        errors.append(f"{label}: url {problem}")
    else:
        try:
            template = UrlTemplate.parse(url)
        except DescriptorError as exc:
            errors.append(f"{label}: {exc}")

    errors.extend(f"{label}: {problem}" for problem in option_problems(entry))
    jql, property_keys = entry.get("filter"), entry.get("propertyKeys")

    if not isinstance(event_name, str) or not event_name:
        return template
    event = lookup(event_name)
    if jql is not None and (event is None or not event.supports_filter):
        filterable = [known.name for known in events() if known.supports_filter]
        errors.append(
            f"{label}: 'filter' (JQL) is supported only by {', '.join(filterable)}, "
            f"not by {event_name}"
        )
    if event is None:
        suggestions = closest(event_name)
        hint = f"did you mean {_names(suggestions)}?" if suggestions else "Jira may never send it"
        warnings.append(f"{label}: unknown event {event_name!r}; {hint}")
        return template
    if event.name in DEPRECATED_EVENTS:
        warnings.append(f"{label}: {event.name} is deprecated; {event.description}")
    if property_keys and event.action == "deleted":
        warnings.append(f"{label}: Jira sends no entity properties with a deleted event")
    if template is not None:
        offered = ", ".join(f"${{{name}}}" for name in event.parameters) or "none"
        for parameter in template.parameters:
            if parameter not in event.parameters:
                errors.append(
                    f"{label}: context parameter ${{{parameter}}} is not provided by "
                    f"{event.name} (it provides {offered})"
                )
            elif parameter in DEPRECATED_PARAMETERS:
                warnings.append(f"{label}: context parameter ${{{parameter}}} is deprecated")
    return template


def check_descriptor(descriptor: Mapping[str, Any]) -> CheckResult:
    """Check a rendered descriptor: every error and warning found, each naming the part at fault."""
    if not isinstance(descriptor, Mapping):
        return CheckResult(errors=("descriptor: must be a JSON object",))
    errors: list[str] = []
    warnings: list[str] = []
    _check_top(descriptor, errors)

    entries = webhook_entries(descriptor)
    if entries is None:
        errors.append("modules.webhooks: must be a list")
        entries = []
    if entries:
        scopes = descriptor.get("scopes")
        granted = (
            {s.lower() for s in scopes if isinstance(s, str)} if isinstance(scopes, list) else set()
        )
        if "read" not in granted:
            errors.append("scopes: webhooks need the READ scope")

    lifecycle: dict[str, UrlTemplate] = {}
    for name, url in lifecycle_paths(descriptor).items():
        if _relative_problem(url) is None:
            try:
                lifecycle[name] = UrlTemplate.parse(url)
            except DescriptorError as exc:
                errors.append(f"lifecycle.{name}: {exc}")
    checked: list[tuple[str, UrlTemplate]] = []
    for index, entry in enumerate(entries):
        template = _check_webhook(index, entry, errors, warnings)
        if template is None:
            continue
        label = module_label(index, entry)
        for name, callback in lifecycle.items():
            if template.overlaps(callback):
                errors.append(f"{label}: url collides with lifecycle.{name} ({callback})")
        for earlier_label, earlier in checked:
            if template == earlier:
                errors.append(f"{label}: same URL as {earlier_label}")
            elif template.overlaps(earlier):
                errors.append(f"{label}: url overlaps {earlier_label}; a request could match both")
        checked.append((label, template))
    return CheckResult(tuple(errors), tuple(warnings))
