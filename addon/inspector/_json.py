"""Deliveries and tenants as JSON for the inspector's API (never a token, never a secret)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from addon.inspector._present import (
    client_key_of,
    event_name,
    iso_time,
    main_key,
    parsed_payload,
    payload_text,
    qsh_check,
    source_of,
    token_view,
)
from addon.store import Delivery, Tenant

__all__ = ["delivery_detail_json", "delivery_json", "tenant_json"]


def delivery_json(delivery: Delivery, tenant: Tenant | None = None) -> dict[str, Any]:
    """One delivery as the list API returns it."""
    event = event_name(delivery)
    return {
        "id": delivery.id,
        "received_at": iso_time(delivery.received_at),
        "origin_kind": delivery.origin_kind,
        "origin": delivery.origin,
        "client_key": client_key_of(delivery),
        "source": source_of(delivery),
        "site_url": tenant.base_url if tenant is not None else None,
        "event": event.name,
        "event_verified": event.verified,
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
        "held_for": None
        if delivery.held_account is None
        else {"site": delivery.held_site, "account_id": delivery.held_account},
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "replays": delivery.replays,
        "replayed_at": iso_time(delivery.replayed_at),
        "duplicate_of": delivery.duplicate_of,
        "token_reused": delivery.token_reused,
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
        "verification": dict(delivery.verification) if delivery.verification else None,
        "payload_text": None if shown is None or shown.is_json else shown.text,
        "handler": {
            "state": delivery.handler_state.value,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "next_attempt_at": iso_time(delivery.next_attempt_at),
            "completed_at": iso_time(delivery.completed_at),
            "replays": delivery.replays,
            "replayed_at": iso_time(delivery.replayed_at),
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


def tenant_json(
    tenant: Tenant, last: Delivery | None, installation_ids: Sequence[str] = ()
) -> dict[str, Any]:
    return {
        "client_key": tenant.client_key,
        "base_url": tenant.base_url,
        "display_url": tenant.display_url,
        "product_type": tenant.product_type,
        "description": tenant.description,
        "state": tenant.state.value,
        "installed_through": tenant.installed_through,
        "installation_id": tenant.installation_id,
        "installation_ids": list(installation_ids),
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
