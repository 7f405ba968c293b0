"""Recording a verified delivery (accepted, duplicate, ignored) or a refusal, and normalising it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import descriptor
from addon.auth import TokenReplayed
from addon.delivery import Delivery, Rejection
from addon.errors import Refusal
from addon.incoming import Incoming
from addon.redact import mask_credentials, safe_headers
from addon.store import DeliveryStatus, DeliveryWriter, NewDelivery, Recorded

__all__ = ["Ingest", "View", "accepted_record", "normalise", "rejection_record"]

logger = logging.getLogger("addon.ingest")

REJECTED_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class View:
    """The normalised view of a delivery, for filtering and display."""

    resource: str | None = None
    action: str | None = None
    issue_key: str | None = None
    project_key: str | None = None
    sprint_id: str | None = None
    actor: str | None = None

    def search_keys(self, *extra: str | None) -> tuple[str, ...]:
        keys = (self.issue_key, self.project_key, self.sprint_id, self.actor, *extra)
        return tuple(dict.fromkeys(k for k in keys if k))


def normalise(event: str | None, payload: Any, context: Mapping[str, str] | None = None) -> View:
    """Resource, action and the main keys a delivery names (the URL's context as a fallback)."""
    context = context or {}
    if not event:
        return View(issue_key=context.get("issue.key"), project_key=context.get("project.key"))
    known = descriptor.lookup(event) or descriptor.product_event(event)
    resource, action = (known.resource, known.action) if known else _guess(event)
    keys = descriptor.main_keys(event, payload)
    return View(
        resource=resource,
        action=action,
        issue_key=keys.get("issue_key") or context.get("issue.key"),
        project_key=keys.get("project_key") or context.get("project.key"),
        sprint_id=keys.get("sprint_id") or context.get("sprint.id"),
        actor=keys.get("actor"),
    )


def _guess(event: str) -> tuple[str | None, str | None]:
    name = event.split(":", 1)[-1]
    if "_" not in name:
        return None, None
    resource, action = name.rsplit("_", 1)
    return resource.removeprefix("jira:") or None, action or None


def rejection_record(rejection: Rejection) -> NewDelivery:
    """What we keep of a refused request: never the token itself, at most 64 KiB of the body."""
    request, evidence = rejection.request, rejection.evidence
    return NewDelivery(
        received_at=request.received_at,
        origin_kind=rejection.origin_kind,
        origin=rejection.origin,
        status=DeliveryStatus.REJECTED,
        event=rejection.event,
        webhook_id=rejection.headers.webhook_id,
        retry=rejection.headers.retry,
        flow=rejection.headers.flow,
        reason=rejection.refusal.reason,
        error_code=rejection.refusal.code,
        method=request.method,
        path=mask_credentials(request.target)[:4096],
        token=evidence.token,
        canonical_request=evidence.canonical_request,
        qsh_expected=evidence.qsh,
        headers=safe_headers(request.headers, also_drop=rejection.hidden_headers),
        body=request.body[:REJECTED_BODY_LIMIT],
        body_size=len(request.body),
        verification=evidence.verification,
    )


def accepted_record(delivery: Delivery) -> NewDelivery:
    """A verified delivery ready for the log (ignored if its door said so), with its view."""
    request, evidence, headers = delivery.request, delivery.evidence, delivery.headers
    view = normalise(delivery.event, delivery.payload, delivery.context)
    ignored = delivery.ignored is not None
    return NewDelivery(
        received_at=request.received_at,
        origin_kind=delivery.origin.kind,
        origin=delivery.origin.key,
        status=DeliveryStatus.IGNORED if ignored else DeliveryStatus.ACCEPTED,
        event=delivery.event,
        webhook_id=headers.webhook_id,
        retry=headers.retry,
        flow=headers.flow,
        reason=delivery.ignored,
        method=request.method,
        path=mask_credentials(request.target)[:4096],
        context=dict(delivery.context),
        token=evidence.token,
        canonical_request=evidence.canonical_request,
        qsh_expected=evidence.qsh,
        headers=safe_headers(request.headers, also_drop=delivery.hidden_headers),
        body=request.body,
        body_size=len(request.body),
        resource=view.resource,
        action=view.action,
        issue_key=view.issue_key,
        project_key=view.project_key,
        sprint_id=view.sprint_id,
        actor=view.actor,
        search_keys=view.search_keys(headers.webhook_id),
        verification=evidence.verification,
        token_digest=evidence.token_digest,
    )


@dataclass(frozen=True, slots=True)
class Ingest:
    """Records what a door made of a request: the delivery it verified, or its refusal.

    Knows nothing of any door: the door reads its own headers, checks its own credentials and
    says who sent the delivery; this writes the outcome to the log and raises the refusal.
    """

    writer: DeliveryWriter

    async def record(self, outcome: Delivery | Rejection) -> Recorded:
        """Write `outcome`; a rejection (and a token replayed with another body) is raised."""
        if isinstance(outcome, Rejection):
            self._reject(outcome.request, outcome.refusal)
            self.writer.record_rejection(rejection_record(outcome))
            raise outcome.refusal
        recorded = await self.writer.record(accepted_record(outcome))
        if recorded.status is DeliveryStatus.REJECTED:
            replayed = TokenReplayed(recorded.reason or "this token was already used")
            self._reject(outcome.request, replayed)
            raise replayed
        return recorded

    @staticmethod
    def _reject(request: Incoming, refusal: Refusal) -> None:
        logger.info(
            "refused %s %s: %s", request.method, mask_credentials(request.target), refusal.reason
        )
