"""Render the descriptor from a Jinja2 template, and read the parts of it the server routes on.

Every `{{ ... }}` expression is written out JSON-encoded, so `"name": {{ name }}` is valid JSON
whatever the setting holds (quotes, backslashes, newlines, any Unicode). Strings are built inside
the expression: `{{ base_url ~ "/x" }}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from descriptor._errors import DescriptorError
from descriptor._urls import UrlTemplate

__all__ = [
    "LIFECYCLE_EVENTS",
    "WebhookModule",
    "lifecycle_paths",
    "parse_webhooks",
    "render_descriptor",
]

LIFECYCLE_EVENTS = ("installed", "uninstalled", "enabled", "disabled")


def _to_json(value: object) -> str:
    return json.dumps(value, default=str)


_ENVIRONMENT = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    finalize=_to_json,
    autoescape=False,
    keep_trailing_newline=True,
)


def render_descriptor(source: str, context: Mapping[str, object]) -> dict[str, Any]:
    """Render a descriptor template with settings values and parse the result as a JSON object.

    The server passes base_url, key, name, description, vendor_name and vendor_url; a template may
    use more. Raises DescriptorError if the template is broken, names a value not given, or does not
    render to a JSON object.
    """
    try:
        rendered = _ENVIRONMENT.from_string(source).render(dict(context))
    except jinja2.TemplateSyntaxError as exc:
        raise DescriptorError(f"descriptor template, line {exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise DescriptorError(f"descriptor template: {exc.message}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise DescriptorError(f"descriptor template: an expression failed: {exc}") from exc
    try:
        descriptor = json.loads(rendered)
    except json.JSONDecodeError as exc:
        lines = rendered.splitlines()
        near = lines[exc.lineno - 1].strip() if 0 < exc.lineno <= len(lines) else ""
        raise DescriptorError(
            f"rendered descriptor is not JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}: {near[:120]!r}"
        ) from exc
    if not isinstance(descriptor, dict):
        raise DescriptorError(
            f"rendered descriptor must be a JSON object, not {type(descriptor).__name__}"
        )
    return descriptor


@dataclass(frozen=True, slots=True)
class WebhookModule:
    """One entry of `modules.webhooks`: its position, and `url` as written."""

    index: int
    event: str
    url: str
    template: UrlTemplate
    filter: str | None
    exclude_body: bool
    property_keys: tuple[str, ...]

    @property
    def label(self) -> str:
        """How messages name this module: `modules.webhooks[3] (event ..., url ...)`."""
        return module_label(self.index, {"event": self.event, "url": self.url})


def module_label(index: int, entry: object) -> str:
    """How messages name a webhook entry: `modules.webhooks[3] (event ..., url ...)`."""
    fields = entry if isinstance(entry, Mapping) else {}
    event, url = fields.get("event"), fields.get("url")
    event = event if isinstance(event, str) and event else "?"
    url = url if isinstance(url, str) and url else "?"
    return f"modules.webhooks[{index}] (event {event}, url {url})"


def webhook_entries(descriptor: Mapping[str, Any]) -> list[object] | None:
    """The raw `modules.webhooks` list: empty when absent, None when it is not a list."""
    modules = descriptor.get("modules", {})
    if not isinstance(modules, Mapping):
        return None
    entries = modules.get("webhooks", [])
    return entries if isinstance(entries, list) else None


def option_problems(entry: Mapping[str, Any]) -> list[str]:
    """What is wrong with a webhook entry's optional fields: filter, excludeBody, propertyKeys."""
    problems = []
    if entry.get("filter") is not None and not isinstance(entry["filter"], str):
        problems.append("'filter' must be a string (a JQL query)")
    if not isinstance(entry.get("excludeBody", False), bool):
        problems.append("'excludeBody' must be true or false")
    keys = entry.get("propertyKeys", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        problems.append("'propertyKeys' must be a list of strings")
    return problems


def _read_webhook(index: int, entry: object) -> WebhookModule:
    label = module_label(index, entry)
    if not isinstance(entry, Mapping):
        raise DescriptorError(f"{label}: must be an object")
    event, url = entry.get("event"), entry.get("url")
    if not isinstance(event, str) or not event:
        raise DescriptorError(f"{label}: 'event' is missing or not a non-empty string")
    if not isinstance(url, str) or not url:
        raise DescriptorError(f"{label}: 'url' is missing or not a non-empty string")
    problems = option_problems(entry)
    if problems:
        raise DescriptorError(f"{label}: {problems[0]}")
    try:
        template = UrlTemplate.parse(url)
    except DescriptorError as exc:
        raise DescriptorError(f"{label}: {exc}") from exc
    return WebhookModule(
        index,
        event,
        url,
        template,
        entry.get("filter"),
        entry.get("excludeBody", False),
        tuple(entry.get("propertyKeys", ())),
    )


def parse_webhooks(descriptor: Mapping[str, Any]) -> tuple[WebhookModule, ...]:
    """The descriptor's webhook modules; raises DescriptorError at the first malformed one."""
    entries = webhook_entries(descriptor)
    if entries is None:
        raise DescriptorError("modules.webhooks must be a list")
    return tuple(_read_webhook(index, entry) for index, entry in enumerate(entries))


def lifecycle_paths(descriptor: Mapping[str, Any]) -> dict[str, str]:
    """The lifecycle URLs the descriptor declares, by name (installed, uninstalled, ...)."""
    lifecycle = descriptor.get("lifecycle")
    if not isinstance(lifecycle, Mapping):
        return {}
    return {
        name: lifecycle[name]
        for name in LIFECYCLE_EVENTS
        if isinstance(lifecycle.get(name), str) and lifecycle[name]
    }
