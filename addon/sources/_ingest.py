"""Admin-webhook ingest: find the source by its URL key, verify the raw bytes, parse, record."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from addon.errors import Refusal
from addon.incoming import Incoming, parse_json_object
from addon.ingest import (
    accepted_record,
    bounded_index_value,
    rejection_record,
    webhook_identifier,
)
from addon.redact import SHOWN_KEY_CHARS, mask_credentials
from addon.sources._errors import MissingEvent, UnknownSource
from addon.sources._model import Source, SourceMode, context_from_url, new_secret
from addon.sources._repository import Sources
from addon.sources._verify import (
    SIGNATURE_HEADER,
    hash_token,
    parse_bearer,
    verify_signature,
    verify_token,
)
from addon.store import DeliveryStatus, DeliveryWriter, Recorded, is_storable_text

__all__ = ["ORIGIN_KIND", "SourceIngest", "check_record", "event_name", "masked_key_path"]

logger = logging.getLogger("addon.sources")

ORIGIN_KIND = "source"
MAX_KEY_LENGTH = 128

_KEPT_FROM_STRANGERS = frozenset(
    {"accept", "accept-encoding", "content-length", "content-type", "host", "user-agent"}
)
_KEPT_PREFIXES_FROM_STRANGERS = ("x-atlassian-", "x-forwarded-")


def masked_key_path(request: Incoming) -> Incoming:
    """`request` with the source key (the last path segment) cut to its first characters + `***`.

    The key is a credential: the log and the inspector show only enough of it to tell URLs apart.
    """
    head, separator, key = request.path.rpartition("/")
    return dataclasses.replace(request, path=f"{head}{separator}{key[:SHOWN_KEY_CHARS]}***")


def event_name(payload: dict[str, Any]) -> str:
    """The `webhookEvent` of an admin-webhook body; `MissingEvent` if there is none."""
    value = payload.get("webhookEvent")
    if not isinstance(value, str) or not value.strip():
        raise MissingEvent(
            "the body has no webhookEvent string; is this a Jira webhook? "
            "(in Jira, leave Exclude body unchecked)"
        )
    return bounded_index_value(value.strip(), "webhookEvent")


def check_record(source: Source, *, matched: bool, previous: bool = False) -> dict[str, Any]:
    """What was checked of a delivery to `source`, as stored for the inspector: the mode, the
    header read and the outcome (and, when it matched, whether by the previous secret during a
    rotation's grace period). Never a secret, nor the credential that came."""
    record: dict[str, Any] = {
        "scheme": source.mode.value,
        "header": source.credential_header,
        "matched": matched,
    }
    if source.mode is SourceMode.CLOUD_SIGNATURE:
        record["algorithm"] = "HMAC-SHA256"
    if matched:
        record["secret"] = "previous" if previous else "current"
    return record


def _unlisted_headers(request: Incoming) -> list[str]:
    """Headers not to store from a request to an unknown key: all but a few plain ones."""
    return [
        name
        for name, _ in request.headers
        if name.lower() not in _KEPT_FROM_STRANGERS
        and not name.lower().startswith(_KEPT_PREFIXES_FROM_STRANGERS)
    ]


@dataclass(frozen=True, slots=True)
class SourceIngest:
    """Admin webhooks: `receive` verifies and records one delivery, or records and raises a refusal.

    `clock` is the time against which a rotated secret's grace period is judged.
    """

    sources: Sources
    writer: DeliveryWriter
    clock: Callable[[], float] = time.time
    decoy_secret: str = field(default_factory=new_secret, repr=False)

    async def receive(self, request: Incoming, source_key: str) -> Recorded:
        shown = masked_key_path(request)
        source = None
        if 0 < len(source_key) <= MAX_KEY_LENGTH and is_storable_text(source_key):
            source = await self.sources.get_by_key(source_key)
        if source is None:
            self._decoy(request)
            unknown = UnknownSource(
                "no webhook source has this URL; check the URL in Jira "
                "(addon sources list shows each source's URL)"
            )
            self._reject(shown, unknown, origin=None, also_drop=_unlisted_headers(request))
            raise unknown
        drop = (source.credential_header,)
        event: str | None = None
        checked = check_record(source, matched=False)
        try:
            checked = self._verify(source, request)
            payload = parse_json_object(request.body, what="webhook body")
            event = event_name(payload)
            webhook_identifier(request)  # refused here, so that the refusal is recorded too
        except Refusal as refusal:
            if refusal.status < 500:
                self._reject(
                    shown, refusal, origin=source.name, also_drop=drop, verification=checked
                )
            raise
        status, reason = DeliveryStatus.ACCEPTED, None
        if not source.allows(event):
            status = DeliveryStatus.IGNORED
            reason = f"{event} is not in the event list of source {source.name}"
        record = accepted_record(
            shown,
            origin_kind=ORIGIN_KIND,
            origin=source.name,
            event=event,
            context=context_from_url(source, request.query),
            payload=payload,
            status=status,
            reason=reason,
            verification=checked,
            also_drop=drop,
        )
        return await self.writer.record(record)

    def _verify(self, source: Source, request: Incoming) -> dict[str, Any]:
        """Check the credential on the raw request, before the body is parsed; returns the check
        as the inspector shows it."""
        accepted = self.sources.accepted_secrets(source, self.clock())
        if source.mode is SourceMode.CLOUD_SIGNATURE:
            position = verify_signature(request.body, request.header(SIGNATURE_HEADER), accepted)
        elif source.mode is SourceMode.BEARER:
            position = verify_token(
                parse_bearer(request.authorization), accepted, where="Authorization"
            )
        else:
            header = source.credential_header
            position = verify_token(request.header(header), accepted, where=f"the {header} header")
        return check_record(source, matched=True, previous=position > 0)

    def _decoy(self, request: Incoming) -> None:
        """The same work a known source costs, so that timing does not tell whether a key exists."""
        with contextlib.suppress(Refusal):
            verify_signature(
                request.body,
                request.header(SIGNATURE_HEADER) or "sha256=" + "0" * 64,
                self.decoy_secret,
            )
        with contextlib.suppress(Refusal):
            verify_token(request.authorization or "-", hash_token(self.decoy_secret))

    def _reject(
        self,
        shown: Incoming,
        refusal: Refusal,
        *,
        origin: str | None,
        also_drop: Iterable[str],
        verification: dict[str, Any] | None = None,
    ) -> None:
        self.writer.record_rejection(
            rejection_record(
                shown,
                refusal,
                origin_kind=ORIGIN_KIND,
                origin=origin,
                verification=verification,
                also_drop=also_drop,
            )
        )
        logger.info(
            "refused %s %s: %s", shown.method, mask_credentials(shown.target), refusal.reason
        )
