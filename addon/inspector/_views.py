"""Deliveries and tenants as the inspector's templates show them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from addon.inspector._present import (
    CheckView,
    PayloadText,
    QshCheck,
    TokenView,
    check_view,
    event_name,
    iso_time,
    main_key,
    payload_text,
    qsh_check,
    time_text,
    token_view,
)
from addon.store import Delivery, HandlerState, Tenant, replay_refusal

__all__ = [
    "DetailView",
    "RowView",
    "TenantView",
    "UrlFor",
    "detail_view",
    "row_view",
    "tenant_view",
]


HANDLER_LABELS = {
    HandlerState.NONE: "none",
    HandlerState.PENDING: "pending",
    HandlerState.DONE: "done",
    HandlerState.FAILED: "failed",
    HandlerState.HELD: "held",
}


UrlFor = Callable[[int], str]


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
    event_verified: bool
    main_key: str | None
    status: str
    reason: str | None
    retry: int
    handler_state: str
    handler_label: str
    attempts: int
    detail_url: str
    token_reused: bool
    mark: str | None = None
    """A door's mark on the delivery (`caught up`, `flagged`), from its check record."""


def row_view(delivery: Delivery, tenant: Tenant | None, detail_url: UrlFor) -> RowView:
    event = event_name(delivery)
    return RowView(
        id=delivery.id,
        received_at=iso_time(delivery.received_at) or "",
        time_text=time_text(delivery.received_at),
        origin_kind=delivery.origin_kind,
        origin=delivery.origin,
        site_url=tenant.base_url if tenant is not None else None,
        event=event.name,
        event_verified=event.verified,
        main_key=main_key(delivery),
        status=delivery.status.value,
        reason=delivery.reason,
        retry=delivery.retry,
        handler_state=delivery.handler_state.value,
        handler_label=HANDLER_LABELS[delivery.handler_state],
        attempts=delivery.attempts,
        detail_url=detail_url(delivery.id),
        token_reused=delivery.token_reused,
        mark=_mark(delivery),
    )


def _mark(delivery: Delivery) -> str | None:
    mark = (delivery.verification or {}).get("mark")
    return mark[:40] if isinstance(mark, str) and mark else None


@dataclass(frozen=True, slots=True)
class DetailView:
    """The delivery detail page; the sections of the door that brought it, and no other."""

    row: RowView
    facts: list[tuple[str, str]]
    token: TokenView | None
    qsh: QshCheck | None
    check: CheckView | None
    show_connect: bool
    show_canonical: bool
    show_check: bool
    headers: list[tuple[str, str]]
    context: list[tuple[str, str]]
    payload: PayloadText | None
    handler: list[tuple[str, str]]
    times: dict[str, str]
    last_error: str | None
    replay_refusal: str | None
    duplicates: list[RowView]
    original_url: str | None


def _facts(delivery: Delivery) -> list[tuple[str, str]]:
    event = event_name(delivery)
    pairs: list[tuple[str, Any]] = [
        ("Received", time_text(delivery.received_at)),
        ("Event", event.name if event.verified else None),
        ("Event (unverified)", None if event.verified else event.name),
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


def _times(delivery: Delivery) -> dict[str, str]:
    """The facts of the detail page that are times, by name, in ISO 8601 (UTC) for <time>."""
    times = {
        "Received": delivery.received_at,
        "Next attempt": delivery.next_attempt_at,
        "Completed": delivery.completed_at,
        "Last replayed": delivery.replayed_at,
    }
    return {name: iso for name, when in times.items() if (iso := iso_time(when)) is not None}


def _held_for(delivery: Delivery) -> str:
    if delivery.held_account is None:
        return ""
    waits = "waits for" if delivery.handler_state is HandlerState.HELD else "released for"
    return f"{waits} account {delivery.held_account} of {delivery.held_site} to be mapped"


def detail_view(
    delivery: Delivery,
    tenant: Tenant | None,
    duplicates: Sequence[Delivery],
    detail_url: UrlFor,
) -> DetailView:
    pending = delivery.handler_state is HandlerState.PENDING
    handler = [
        ("State", HANDLER_LABELS[delivery.handler_state]),
        ("Held for", _held_for(delivery)),
        ("Attempts", str(delivery.attempts)),
        ("Next attempt", time_text(delivery.next_attempt_at) if pending else ""),
        ("Completed", time_text(delivery.completed_at)),
        ("Replays", f"{delivery.replays:,}" if delivery.replays else ""),
        ("Last replayed", time_text(delivery.replayed_at)),
    ]
    connect = delivery.origin_kind == "connect"
    token, qsh, check = token_view(delivery.token), qsh_check(delivery), check_view(delivery)
    return DetailView(
        row=row_view(delivery, tenant, detail_url),
        facts=_facts(delivery),
        token=token,
        qsh=qsh,
        check=check,
        show_connect=connect or token is not None or qsh is not None,
        show_canonical=connect or qsh is not None,
        show_check=not connect or check is not None,
        headers=sorted(delivery.headers.items()),
        context=sorted(delivery.context.items()),
        payload=payload_text(delivery),
        handler=[(name, value) for name, value in handler if value],
        times=_times(delivery),
        last_error=delivery.last_error,
        replay_refusal=replay_refusal(delivery),
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
    installed_through: str = "descriptor"
    installation_id: str | None = None
    earlier_installation_ids: tuple[str, ...] = ()


def tenant_view(
    tenant: Tenant,
    last: Delivery | None,
    detail_url: UrlFor,
    deliveries_url: str,
    installation_ids: Sequence[str] = (),
) -> TenantView:
    return TenantView(
        client_key=tenant.client_key,
        base_url=tenant.base_url,
        display_url=tenant.display_url if tenant.display_url != tenant.base_url else None,
        product_type=tenant.product_type,
        description=tenant.description,
        state=tenant.state.value,
        installed_at=iso_time(tenant.installed_at),
        installed_text=time_text(tenant.installed_at),
        uninstalled_text=time_text(tenant.uninstalled_at),
        last_delivery=None if last is None else row_view(last, tenant, detail_url),
        deliveries_url=deliveries_url,
        installed_through=tenant.installed_through,
        installation_id=tenant.installation_id,
        earlier_installation_ids=tuple(i for i in installation_ids if i != tenant.installation_id),
    )
