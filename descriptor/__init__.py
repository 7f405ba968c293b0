"""The contract with Jira: the descriptor template and its checks, the webhook event catalogue, the
`${...}` URL templates Jira expands, and the Forge manifest that installs the app. Imports nothing
from `addon`."""

from __future__ import annotations

from pathlib import Path

from descriptor._catalogue import (
    Event,
    closest,
    context_values,
    events,
    lookup,
    value_at,
)
from descriptor._check import CheckResult, check_descriptor
from descriptor._errors import DescriptorError
from descriptor._forge import EVENT_DOORS, FORGE_RUNTIME, ManifestError, forge_manifest
from descriptor._forge_connect import FORGE_SCOPES
from descriptor._forge_ids import INSTALLATION_ARI_PREFIX, forge_app_id, forge_installation_id
from descriptor._forge_remote import FORGE_ROUTES, REMOTE_KEY
from descriptor._keys import main_keys
from descriptor._names import NAMING_RULE, name_problem
from descriptor._people import EventPeople, people_of
from descriptor._product_events import (
    LIFECYCLE_EVENTS,
    ProductEvent,
    product_event,
    product_event_for,
    product_events,
)
from descriptor._render import WebhookModule, lifecycle_paths, parse_webhooks, render_descriptor
from descriptor._urls import UrlTemplate, expand, expand_for_event
from descriptor._yaml import to_yaml

__all__ = [
    "DEFAULT_TEMPLATE_PATH",
    "EVENT_DOORS",
    "FORGE_ROUTES",
    "FORGE_RUNTIME",
    "FORGE_SCOPES",
    "INSTALLATION_ARI_PREFIX",
    "LIFECYCLE_EVENTS",
    "NAMING_RULE",
    "REMOTE_KEY",
    "CheckResult",
    "DescriptorError",
    "Event",
    "EventPeople",
    "ManifestError",
    "ProductEvent",
    "UrlTemplate",
    "WebhookModule",
    "check_descriptor",
    "closest",
    "context_values",
    "events",
    "expand",
    "expand_for_event",
    "forge_app_id",
    "forge_installation_id",
    "forge_manifest",
    "lifecycle_paths",
    "lookup",
    "main_keys",
    "name_problem",
    "parse_webhooks",
    "people_of",
    "product_event",
    "product_event_for",
    "product_events",
    "render_descriptor",
    "to_yaml",
    "value_at",
]

DEFAULT_TEMPLATE_PATH = Path(__file__).with_name("default.json.j2")
"""The default descriptor template shipped with the package (the same file as the repository's
`atlassian-connect.json.j2`)."""
