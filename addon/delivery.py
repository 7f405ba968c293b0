"""A verified delivery, as every door hands it on: who sent it, what, and what was checked.

A door (Connect, admin-webhook sources, ...) turns an `Incoming` request into a `Delivery`, or
into a `Rejection` saying why it was turned away. From there on nothing depends on the door: the
log records either value, the worker hands the delivery's origin to handlers, and the inspector
shows its evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from addon.errors import Refusal, ValueTooLong
from addon.incoming import Incoming
from addon.store import MAX_INDEXED_BYTES, fits_index, storable_text

__all__ = [
    "Delivery",
    "Evidence",
    "Origin",
    "Rejection",
    "WebhookHeaders",
    "bounded_index_value",
    "webhook_headers",
    "webhook_identifier",
]

IDENTIFIER_HEADER = "x-atlassian-webhook-identifier"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a delivery: the door's kind (`"connect"`, `"source"`, ...) and, within it, the
    key of the sender (a Connect `clientKey`, a source's name). `site_url` is the Jira site's
    base URL, where the door can call it back."""

    kind: str
    key: str
    site_url: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the door checked, as the inspector shows it: never a secret nor a whole token."""

    token: Mapping[str, Any] | None = None
    """The decoded token (header and claims), where the door verified one."""
    canonical_request: str | None = None
    qsh: str | None = None
    verification: Mapping[str, Any] | None = None
    """The door's record of its check (scheme, header read, outcome)."""
    token_digest: bytes | None = None
    """What replay checks compare of the token (`webhook_token_key`), never the token itself."""


@dataclass(frozen=True, slots=True)
class WebhookHeaders:
    """The delivery's identifier (its dedup key), retry number and flow, as its door reads them."""

    webhook_id: str | None = None
    retry: int = 0
    flow: str | None = None


def bounded_index_value(value: str, what: str) -> str:
    """`value` if the log can index it (at most MAX_INDEXED_BYTES of UTF-8); else ValueTooLong."""
    if not fits_index(storable_text(value)):
        raise ValueTooLong(
            f"{what} is longer than {MAX_INDEXED_BYTES} bytes; Jira's are far shorter"
        )
    return value


def webhook_identifier(request: Incoming) -> str | None:
    """The delivery's X-Atlassian-Webhook-Identifier, bounded; ValueTooLong past the bound.

    A door calls it while it verifies, so that the refusal is recorded like any other.
    """
    value = request.header(IDENTIFIER_HEADER) or None
    return None if value is None else bounded_index_value(value, "X-Atlassian-Webhook-Identifier")


def webhook_headers(request: Incoming) -> WebhookHeaders:
    """The `X-Atlassian-Webhook-*` headers Jira sends with Connect and admin webhooks."""
    value = request.header("x-atlassian-webhook-retry")
    try:
        retry = max(0, min(int(value or 0), 1_000_000))
    except ValueError:
        retry = 0
    return WebhookHeaders(
        webhook_id=request.header(IDENTIFIER_HEADER) or None,
        retry=retry,
        flow=request.header("x-atlassian-webhook-flow"),
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified delivery, ready for the log.

    `request` is the request as it may be stored (a door masks what is a credential in its path);
    `hidden_headers` are headers of it never to store (a door's credential headers). `ignored`
    is the reason a door keeps the delivery without running handlers (a disabled tenant, an event
    the source does not take).
    """

    origin: Origin
    event: str
    payload: Any
    request: Incoming
    headers: WebhookHeaders = field(default_factory=WebhookHeaders)
    context: Mapping[str, str] = field(default_factory=dict)
    ignored: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    hidden_headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request a door turned away: the refusal answered, and what the rejection log keeps.

    `origin_kind` is the door's; `origin` who the request claimed to be, where it said.
    """

    refusal: Refusal
    origin_kind: str
    request: Incoming
    origin: str | None = None
    event: str | None = None
    headers: WebhookHeaders = field(default_factory=WebhookHeaders)
    evidence: Evidence = field(default_factory=Evidence)
    hidden_headers: tuple[str, ...] = ()
