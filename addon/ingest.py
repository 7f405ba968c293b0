"""Webhook ingest: verify a delivery, record it (accepted, duplicate, ignored, rejected), normalise it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import descriptor
from addon.auth import (
    TokenReplayed,
    VerifiedToken,
    canonical_request,
    decode_unverified,
    extract_token,
    query_string_hash,
    verify_symmetric,
)
from addon.errors import Refusal, ValueTooLong
from addon.incoming import Incoming, parse_json_object
from addon.redact import mask_credentials, safe_headers
from addon.store import (
    MAX_INDEXED_BYTES,
    DeliveryStatus,
    NewDelivery,
    Recorded,
    Store,
    TenantState,
    fits_index,
    storable_text,
    webhook_token_key,
)
from addon.tenancy import TenantCache

__all__ = [
    "Ingest",
    "View",
    "accepted_record",
    "bounded_index_value",
    "normalise",
    "parse_payload",
    "rejection_record",
    "webhook_identifier",
]

IDENTIFIER_HEADER = "x-atlassian-webhook-identifier"

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
    known = descriptor.lookup(event)
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


def _token_record(verified: VerifiedToken | None, token: str | None) -> dict[str, Any] | None:
    if verified is not None:
        return {"header": dict(verified.header), "claims": dict(verified.claims)}
    if token is None:
        return None
    try:
        header, claims = decode_unverified(token)
    except Refusal:
        return None
    return {"header": header, "claims": claims, "verified": False}


def bounded_index_value(value: str, what: str) -> str:
    """`value` if the log can index it (at most MAX_INDEXED_BYTES of UTF-8); else ValueTooLong."""
    if not fits_index(storable_text(value)):
        raise ValueTooLong(
            f"{what} is longer than {MAX_INDEXED_BYTES} bytes; Jira's are far shorter"
        )
    return value


def webhook_identifier(request: Incoming) -> str | None:
    """The delivery's X-Atlassian-Webhook-Identifier, bounded; ValueTooLong past the bound."""
    value = request.header(IDENTIFIER_HEADER) or None
    return None if value is None else bounded_index_value(value, "X-Atlassian-Webhook-Identifier")


def rejection_record(
    request: Incoming,
    refusal: Refusal,
    *,
    origin_kind: str,
    origin: str | None,
    event: str | None = None,
    base_url: str = "",
    token: str | None = None,
    verification: Mapping[str, Any] | None = None,
    also_drop: Iterable[str] = (),
) -> NewDelivery:
    """What we keep of a refused request: never the token itself, at most 64 KiB of the body."""
    canonical = qsh = None
    if origin_kind == "connect":
        try:
            canonical = canonical_request(request.method, request.target, base_url)
            qsh = query_string_hash(request.method, request.target, base_url)
        except Exception:
            canonical = qsh = None
    return NewDelivery(
        received_at=request.received_at,
        origin_kind=origin_kind,
        origin=origin,
        status=DeliveryStatus.REJECTED,
        event=event,
        webhook_id=request.header(IDENTIFIER_HEADER),
        retry=_retry(request),
        flow=request.header("x-atlassian-webhook-flow"),
        reason=refusal.reason,
        error_code=refusal.code,
        method=request.method,
        path=mask_credentials(request.target)[:4096],
        token=_token_record(None, token),
        canonical_request=canonical,
        qsh_expected=qsh,
        headers=safe_headers(request.headers, also_drop=also_drop),
        body=request.body[:REJECTED_BODY_LIMIT],
        body_size=len(request.body),
        verification=verification,
    )


def _retry(request: Incoming) -> int:
    value = request.header("x-atlassian-webhook-retry")
    try:
        return max(0, min(int(value or 0), 1_000_000))
    except ValueError:
        return 0


def parse_payload(body: bytes, *, exclude_body: bool) -> Any:
    """The webhook body as JSON (None for an `excludeBody` webhook); BadRequest if it is not JSON."""
    if exclude_body and not body.strip():
        return None
    return parse_json_object(body, what="webhook body")


def accepted_record(
    request: Incoming,
    *,
    origin_kind: str,
    origin: str,
    event: str,
    context: Mapping[str, str],
    payload: Any,
    status: DeliveryStatus = DeliveryStatus.ACCEPTED,
    reason: str | None = None,
    token: Mapping[str, Any] | None = None,
    canonical: str | None = None,
    qsh: str | None = None,
    verification: Mapping[str, Any] | None = None,
    also_drop: Iterable[str] = (),
    token_digest: bytes | None = None,
) -> NewDelivery:
    """A verified delivery ready for the log, with its normalised view.

    `verification` is what the door checked, as the inspector shows it: never a secret.
    """
    view = normalise(event, payload, context)
    webhook_id = webhook_identifier(request)
    return NewDelivery(
        received_at=request.received_at,
        origin_kind=origin_kind,
        origin=origin,
        status=status,
        event=event,
        webhook_id=webhook_id,
        retry=_retry(request),
        flow=request.header("x-atlassian-webhook-flow"),
        reason=reason,
        method=request.method,
        path=mask_credentials(request.target)[:4096],
        context=dict(context),
        token=token,
        canonical_request=canonical,
        qsh_expected=qsh,
        headers=safe_headers(request.headers, also_drop=also_drop),
        body=request.body,
        body_size=len(request.body),
        resource=view.resource,
        action=view.action,
        issue_key=view.issue_key,
        project_key=view.project_key,
        sprint_id=view.sprint_id,
        actor=view.actor,
        search_keys=view.search_keys(webhook_id),
        verification=verification,
        token_digest=token_digest,
    )


@dataclass(frozen=True, slots=True)
class Ingest:
    """Connect webhooks: match the descriptor's URL templates, verify, record, answer."""

    base_url: str
    leeway: int
    store: Store
    tenants: TenantCache
    webhooks: Sequence[descriptor.WebhookModule]
    _by_literal_path: dict[str, tuple[descriptor.WebhookModule, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_path: dict[str, list[descriptor.WebhookModule]] = {}
        for module in self.webhooks:
            if "${" not in module.template.path:
                by_path.setdefault(module.template.path, []).append(module)
        object.__setattr__(self, "_by_literal_path", {p: tuple(m) for p, m in by_path.items()})

    def match(
        self, relative_path: str, query: str
    ) -> tuple[descriptor.WebhookModule, dict[str, str]] | None:
        """The webhook module whose URL template matches, with the context parameters extracted."""
        # A request naming a template's literal path as written is tried against that template
        # first (one dict lookup instead of matching every template in turn). The answer is the
        # same: the descriptor check refuses templates that one request could both match.
        for module in self._by_literal_path.get(relative_path, ()):
            context = module.template.match(relative_path, query)
            if context is not None:
                return module, context
        for module in self.webhooks:
            context = module.template.match(relative_path, query)
            if context is not None:
                return module, context
        return None

    async def receive(
        self, request: Incoming, module: descriptor.WebhookModule, context: Mapping[str, str]
    ) -> Recorded:
        """Verify and record one delivery; refusals are recorded in the rejection log and raised."""
        token: str | None = None
        try:
            token = extract_token(request.authorization, request.query_jwt)
            verified = await verify_symmetric(
                token,
                method=request.method,
                url=request.target,
                base_url=self.base_url,
                secret_for=self.tenants.secret_for,
                leeway=self.leeway,
            )
            payload = parse_payload(request.body, exclude_body=module.exclude_body)
            webhook_identifier(request)  # refused here, so that the refusal is recorded too
        except Refusal as refusal:
            if refusal.status < 500:
                self.store.writer.record_rejection(
                    rejection_record(
                        request,
                        refusal,
                        origin_kind="connect",
                        origin=_claimed_issuer(token),
                        event=module.event,
                        base_url=self.base_url,
                        token=token,
                    )
                )
                logger.info(
                    "refused %s %s: %s",
                    request.method,
                    mask_credentials(request.target),
                    refusal.reason,
                )
            raise
        client_key = str(verified.claims["iss"])
        tenant = await self.tenants.get(client_key)
        status, reason = DeliveryStatus.ACCEPTED, None
        if tenant is not None and tenant.state is TenantState.DISABLED:
            status, reason = DeliveryStatus.IGNORED, f"tenant {client_key} is disabled"
        record = accepted_record(
            request,
            origin_kind="connect",
            origin=client_key,
            event=module.event,
            context=context,
            payload=payload,
            status=status,
            reason=reason,
            token={"header": dict(verified.header), "claims": dict(verified.claims)},
            canonical=verified.canonical_request,
            qsh=verified.qsh_expected,
            token_digest=webhook_token_key(token, verified.expires_at),
        )
        recorded = await self.store.writer.record(record)
        if recorded.status is DeliveryStatus.REJECTED:
            replayed = TokenReplayed(recorded.reason or "this token was already used")
            logger.info(
                "refused %s %s: %s",
                request.method,
                mask_credentials(request.target),
                replayed.reason,
            )
            raise replayed
        return recorded


def _claimed_issuer(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        _, claims = decode_unverified(token)
    except Refusal:
        return None
    issuer = claims.get("iss")
    return issuer[:256] if isinstance(issuer, str) else None
