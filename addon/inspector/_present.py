"""Deliveries and tenants as the inspector shows them: JSON for scripts, views for the templates.

Nothing here ever carries a token's signature, a raw token or a tenant's shared secret: the store
keeps only a token's decoded header and claims, and tenants are copied field by field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from addon.ingest import View, normalise
from addon.store import Delivery, DeliveryStatus, HandlerState, Tenant

__all__ = [
    "TOKEN_CLAIMS",
    "DetailView",
    "PayloadText",
    "QshCheck",
    "RowView",
    "TenantView",
    "TokenView",
    "UrlFor",
    "delivery_detail_json",
    "delivery_json",
    "detail_view",
    "iso_time",
    "main_key",
    "parsed_payload",
    "payload_text",
    "qsh_check",
    "row_view",
    "tenant_json",
    "tenant_view",
    "token_view",
]

TOKEN_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "qsh")
TIME_CLAIMS = frozenset({"iat", "exp"})
PAYLOAD_DISPLAY_LIMIT = 1_000_000
HANDLER_LABELS = {
    HandlerState.NONE: "none",
    HandlerState.PENDING: "pending",
    HandlerState.DONE: "done",
    HandlerState.FAILED: "failed",
}

UrlFor = Callable[[int], str]


def iso_time(timestamp: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC, e.g. 2026-02-01T09:30:00.250Z."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time_text(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def main_key(delivery: Delivery) -> str | None:
    """The key a delivery is mainly about: its issue, else project, sprint or acting user.

    Rejected deliveries were never normalised when stored, so their (unverified) body is read.
    """
    view: Delivery | View = delivery
    if delivery.status is DeliveryStatus.REJECTED and delivery.event and not delivery.issue_key:
        view = normalise(delivery.event, parsed_payload(delivery))
    if view.issue_key:
        return view.issue_key
    if view.project_key:
        return view.project_key
    if view.sprint_id:
        return f"sprint {view.sprint_id}"
    return view.actor


def _client_key(delivery: Delivery) -> str | None:
    return delivery.origin if delivery.origin_kind == "connect" else None


def _source(delivery: Delivery) -> str | None:
    return delivery.origin if delivery.origin_kind == "source" else None


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token as far as it may be shown: its decoded header and the claims that matter."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    verified: bool

    def claim_rows(self) -> list[tuple[str, str, str]]:
        """(claim, value, note) for the template; times get their UTC reading as the note."""
        rows = []
        for name, value in self.claims.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            note = ""
            if (
                name in TIME_CLAIMS
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                note = _time_text(float(value)) if 0 <= value < 253402300800 else ""
            rows.append((name, text, note))
        return rows

    def header_text(self) -> str:
        return json.dumps(dict(self.header), ensure_ascii=False, sort_keys=True)


def token_view(token: Mapping[str, Any] | None) -> TokenView | None:
    """The shown part of a stored token record ({"header", "claims", "verified"?})."""
    if not token:
        return None
    header = token.get("header")
    claims = token.get("claims")
    header = dict(header) if isinstance(header, Mapping) else {}
    claims = claims if isinstance(claims, Mapping) else {}
    shown = {name: claims[name] for name in TOKEN_CLAIMS if name in claims}
    return TokenView(header=header, claims=shown, verified=token.get("verified", True) is not False)


@dataclass(frozen=True, slots=True)
class QshCheck:
    """The canonical request the server computed, its hash, and the token's claim to compare."""

    canonical_request: str
    computed_qsh: str
    token_qsh: str | None

    @property
    def matches(self) -> bool | None:
        """Whether the token's qsh is the hash of the canonical request; None without a qsh."""
        if self.token_qsh is None:
            return None
        return self.token_qsh == self.computed_qsh


def _sha256(text: str) -> str:
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def qsh_check(delivery: Delivery) -> QshCheck | None:
    if delivery.canonical_request is None:
        return None
    claims = (delivery.token or {}).get("claims")
    qsh = claims.get("qsh") if isinstance(claims, Mapping) else None
    return QshCheck(
        canonical_request=delivery.canonical_request,
        computed_qsh=_sha256(delivery.canonical_request),
        token_qsh=qsh if isinstance(qsh, str) else None,
    )


@dataclass(frozen=True, slots=True)
class PayloadText:
    """The body for display: pretty JSON when it parses, else text; cut at a display limit."""

    text: str
    is_json: bool
    size: int
    stored: int
    cut: bool

    @property
    def note(self) -> str:
        parts = []
        if self.stored < self.size:
            parts.append(f"only the first {self.stored:,} of {self.size:,} bytes were kept")
        if self.cut:
            parts.append(f"shown up to {PAYLOAD_DISPLAY_LIMIT:,} characters")
        return "; ".join(parts)


def parsed_payload(delivery: Delivery) -> Any:
    """The body as JSON, or None; NaN and Infinity stay strings, so the answer is valid JSON."""
    if not delivery.body:
        return None
    try:
        return json.loads(delivery.body, parse_constant=str)
    except (ValueError, RecursionError):
        return None


def payload_text(delivery: Delivery) -> PayloadText | None:
    if not delivery.body:
        return None
    parsed = parsed_payload(delivery)
    if parsed is not None:
        text, is_json = json.dumps(parsed, indent=2, ensure_ascii=False), True
    else:
        text, is_json = delivery.body.decode("utf-8", "replace"), False
    return PayloadText(
        text=text[:PAYLOAD_DISPLAY_LIMIT],
        is_json=is_json,
        size=max(delivery.body_size, len(delivery.body)),
        stored=len(delivery.body),
        cut=len(text) > PAYLOAD_DISPLAY_LIMIT,
    )


def delivery_json(delivery: Delivery, tenant: Tenant | None = None) -> dict[str, Any]:
    """One delivery as the list API returns it."""
    return {
        "id": delivery.id,
        "received_at": iso_time(delivery.received_at),
        "client_key": _client_key(delivery),
        "source": _source(delivery),
        "site_url": tenant.base_url if tenant is not None else None,
        "event": delivery.event,
        "status": delivery.status.value,
        "reason": delivery.reason,
        "error_code": delivery.error_code,
        "webhook_id": delivery.webhook_id,
        "retry": delivery.retry,
        "flow": delivery.flow,
        "resource": delivery.resource,
        "action": delivery.action,
        "main_key": main_key(delivery),
        "issue_key": delivery.issue_key,
        "project_key": delivery.project_key,
        "sprint_id": delivery.sprint_id,
        "actor": delivery.actor,
        "handler_state": delivery.handler_state.value,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "duplicate_of": delivery.duplicate_of,
        "context": dict(delivery.context),
        "body_size": delivery.body_size,
        "payload": parsed_payload(delivery),
    }


def delivery_detail_json(
    delivery: Delivery,
    tenant: Tenant | None,
    duplicates: Sequence[Delivery],
) -> dict[str, Any]:
    """Everything the detail page shows, for scripts."""
    token = token_view(delivery.token)
    check = qsh_check(delivery)
    shown = payload_text(delivery)
    return {
        **delivery_json(delivery, tenant),
        "method": delivery.method,
        "path": delivery.path,
        "headers": dict(sorted(delivery.headers.items())),
        "token": None
        if token is None
        else {
            "header": dict(token.header),
            "claims": dict(token.claims),
            "verified": token.verified,
        },
        "qsh": None
        if check is None
        else {
            "canonical_request": check.canonical_request,
            "computed": check.computed_qsh,
            "token": check.token_qsh,
            "matches": check.matches,
        },
        "payload_text": None if shown is None or shown.is_json else shown.text,
        "handler": {
            "state": delivery.handler_state.value,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "next_attempt_at": iso_time(delivery.next_attempt_at),
            "completed_at": iso_time(delivery.completed_at),
        },
        "duplicates": [
            {
                "id": dup.id,
                "received_at": iso_time(dup.received_at),
                "retry": dup.retry,
                "status": dup.status.value,
            }
            for dup in duplicates
        ],
    }


@dataclass(frozen=True, slots=True)
class RowView:
    """One line of the delivery list."""

    id: int
    received_at: str
    time_text: str
    origin_kind: str
    origin: str | None
    site_url: str | None
    event: str | None
    main_key: str | None
    status: str
    reason: str | None
    retry: int
    handler_state: str
    handler_label: str
    attempts: int
    detail_url: str


def row_view(delivery: Delivery, tenant: Tenant | None, detail_url: UrlFor) -> RowView:
    return RowView(
        id=delivery.id,
        received_at=iso_time(delivery.received_at) or "",
        time_text=_time_text(delivery.received_at),
        origin_kind=delivery.origin_kind,
        origin=delivery.origin,
        site_url=tenant.base_url if tenant is not None else None,
        event=delivery.event,
        main_key=main_key(delivery),
        status=delivery.status.value,
        reason=delivery.reason,
        retry=delivery.retry,
        handler_state=delivery.handler_state.value,
        handler_label=HANDLER_LABELS[delivery.handler_state],
        attempts=delivery.attempts,
        detail_url=detail_url(delivery.id),
    )


@dataclass(frozen=True, slots=True)
class DetailView:
    """The delivery detail page."""

    row: RowView
    facts: list[tuple[str, str]]
    token: TokenView | None
    qsh: QshCheck | None
    headers: list[tuple[str, str]]
    context: list[tuple[str, str]]
    payload: PayloadText | None
    handler: list[tuple[str, str]]
    last_error: str | None
    duplicates: list[RowView]
    original_url: str | None


def _facts(delivery: Delivery) -> list[tuple[str, str]]:
    pairs: list[tuple[str, Any]] = [
        ("Received", _time_text(delivery.received_at)),
        ("Event", delivery.event),
        ("Resource", delivery.resource),
        ("Action", delivery.action),
        ("Issue", delivery.issue_key),
        ("Project", delivery.project_key),
        ("Sprint", delivery.sprint_id),
        ("Actor", delivery.actor),
        ("Request", f"{delivery.method or ''} {delivery.path or ''}".strip()),
        ("Webhook identifier", delivery.webhook_id),
        ("Flow", delivery.flow),
        ("Retry", str(delivery.retry)),
        ("Error code", delivery.error_code),
        ("Body size", f"{delivery.body_size:,} bytes"),
    ]
    return [(name, str(value)) for name, value in pairs if value]


def detail_view(
    delivery: Delivery,
    tenant: Tenant | None,
    duplicates: Sequence[Delivery],
    detail_url: UrlFor,
) -> DetailView:
    handler = [
        ("State", HANDLER_LABELS[delivery.handler_state]),
        ("Attempts", str(delivery.attempts)),
        (
            "Next attempt",
            _time_text(delivery.next_attempt_at)
            if delivery.handler_state is HandlerState.PENDING
            else "",
        ),
        ("Completed", _time_text(delivery.completed_at)),
    ]
    return DetailView(
        row=row_view(delivery, tenant, detail_url),
        facts=_facts(delivery),
        token=token_view(delivery.token),
        qsh=qsh_check(delivery),
        headers=sorted(delivery.headers.items()),
        context=sorted(delivery.context.items()),
        payload=payload_text(delivery),
        handler=[(name, value) for name, value in handler if value],
        last_error=delivery.last_error,
        duplicates=[row_view(dup, tenant, detail_url) for dup in duplicates],
        original_url=detail_url(delivery.duplicate_of) if delivery.duplicate_of else None,
    )


@dataclass(frozen=True, slots=True)
class TenantView:
    """One installed site on the tenants page; built field by field, never with the secret."""

    client_key: str
    base_url: str
    display_url: str | None
    product_type: str | None
    description: str | None
    state: str
    installed_at: str | None
    installed_text: str
    uninstalled_text: str
    last_delivery: RowView | None
    deliveries_url: str


def tenant_view(
    tenant: Tenant, last: Delivery | None, detail_url: UrlFor, deliveries_url: str
) -> TenantView:
    return TenantView(
        client_key=tenant.client_key,
        base_url=tenant.base_url,
        display_url=tenant.display_url if tenant.display_url != tenant.base_url else None,
        product_type=tenant.product_type,
        description=tenant.description,
        state=tenant.state.value,
        installed_at=iso_time(tenant.installed_at),
        installed_text=_time_text(tenant.installed_at),
        uninstalled_text=_time_text(tenant.uninstalled_at),
        last_delivery=None if last is None else row_view(last, tenant, detail_url),
        deliveries_url=deliveries_url,
    )


def tenant_json(tenant: Tenant, last: Delivery | None) -> dict[str, Any]:
    return {
        "client_key": tenant.client_key,
        "base_url": tenant.base_url,
        "display_url": tenant.display_url,
        "product_type": tenant.product_type,
        "description": tenant.description,
        "state": tenant.state.value,
        "installed_at": iso_time(tenant.installed_at),
        "updated_at": iso_time(tenant.updated_at),
        "uninstalled_at": iso_time(tenant.uninstalled_at),
        "last_delivery": None
        if last is None
        else {
            "id": last.id,
            "received_at": iso_time(last.received_at),
            "status": last.status.value,
            "event": last.event,
        },
    }
