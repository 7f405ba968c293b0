"""The admin-webhook door: find the source by its URL key, verify the raw bytes, parse."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.routing import BaseRoute

from addon.delivery import (
    Delivery,
    Evidence,
    Origin,
    Rejection,
    bounded_index_value,
    webhook_headers,
    webhook_identifier,
)
from addon.doors import JiraClientFactory, Job, Runtime
from addon.errors import Refusal
from addon.incoming import Incoming, parse_json_object
from addon.redact import SHOWN_KEY_CHARS
from addon.sources._api_token import ApiTokens
from addon.sources._errors import MissingEvent, UnknownSource
from addon.sources._model import SOURCE_PATH, Source, SourceMode, context_from_url, new_secret
from addon.sources._repository import Sources
from addon.sources._verify import (
    SIGNATURE_HEADER,
    hash_token,
    parse_bearer,
    verify_signature,
    verify_token,
)
from addon.store import is_storable_text

__all__ = ["ORIGIN_KIND", "SourceDoor", "check_record", "event_name", "masked_key_path"]

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


class SourceDoor:
    """Admin webhooks: a source found by its URL key, its credential checked on the raw bytes.

    `clock` is the time against which a rotated secret's grace period is judged.
    """

    kind = ORIGIN_KIND
    challenge: str | None = None

    def __init__(
        self, sources: Sources | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._sources = sources
        self._tokens: ApiTokens | None = None
        self.clock = clock
        self.decoy_secret = new_secret()

    @property
    def sources(self) -> Sources:
        if self._sources is None:
            raise RuntimeError("the sources door is not started")
        return self._sources

    def routes(self) -> Sequence[BaseRoute]:
        return ()

    def example_paths(self) -> Sequence[str]:
        return [SOURCE_PATH + "example"]

    def jobs(self) -> Sequence[Job]:
        return ()

    async def start(self, runtime: Runtime) -> None:
        self._sources = Sources(runtime.store.db, runtime.store.box)
        self._tokens = ApiTokens(runtime.store.db, runtime.store.box)

    def match(self, path: str, query: str) -> str | None:
        """The source key of `/webhooks/jira/sources/<key>`."""
        if not path.startswith(SOURCE_PATH):
            return None
        key = unquote(path[len(SOURCE_PATH) :])
        return key if key and "/" not in key else None

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        """Basic auth with the API token bound to the source (`addon sources token`), if any:
        a source's own secret signs deliveries, it is no way to call back."""
        if self._tokens is None or origin.kind != ORIGIN_KIND:
            return None
        token = await self._tokens.get(origin.key)
        return None if token is None else ApiTokens.factory(token)

    async def site_client(self, site_url: str) -> JiraClientFactory | None:
        if self._tokens is None:
            return None
        token = await self._tokens.for_site(site_url)
        return None if token is None else ApiTokens.factory(token)

    async def verify(self, request: Incoming, match: str) -> Delivery | Rejection:
        source_key = match
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
            return Rejection(
                unknown,
                ORIGIN_KIND,
                shown,
                headers=webhook_headers(request),
                hidden_headers=tuple(_unlisted_headers(request)),
            )
        drop = (source.credential_header,)
        event: str | None = None
        checked = check_record(source, matched=False)
        try:
            checked = self._verify(source, request)
            payload = parse_json_object(request.body, what="webhook body")
            event = event_name(payload)
            webhook_identifier(request)  # refused here, so that the refusal is recorded too
        except Refusal as refusal:
            if refusal.status >= 500:
                raise
            return Rejection(
                refusal,
                ORIGIN_KIND,
                shown,
                origin=source.name,
                headers=webhook_headers(request),
                evidence=Evidence(verification=checked),
                hidden_headers=drop,
            )
        ignored = None
        if not source.allows(event):
            ignored = f"{event} is not in the event list of source {source.name}"
        site_url = await self._tokens.site_of(source.name) if self._tokens else None
        return Delivery(
            origin=Origin(ORIGIN_KIND, source.name, site_url),
            event=event,
            payload=payload,
            request=shown,
            headers=webhook_headers(request),
            context=context_from_url(source, request.query),
            ignored=ignored,
            evidence=Evidence(verification=checked),
            hidden_headers=drop,
        )

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
