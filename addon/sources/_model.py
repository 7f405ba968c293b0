"""What a source is: its mode, its record, and the rules its name, header, events, secret and URL
template must follow."""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from addon.sources._verify import SIGNATURE_HEADER
from descriptor import DescriptorError, UrlTemplate

__all__ = [
    "DEFAULT_TOKEN_HEADER",
    "SOURCE_PATH",
    "DuplicateSource",
    "Source",
    "SourceError",
    "SourceMode",
    "check_events",
    "check_header",
    "check_name",
    "check_secret",
    "check_url_template",
    "context_from_url",
    "new_secret",
    "new_source_key",
    "webhook_url",
]

SOURCE_PATH = "/webhooks/jira/sources/"
DEFAULT_TOKEN_HEADER = "X-Webhook-Token"
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 512
MAX_EVENTS = 200

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
_EVENT = re.compile(r"[A-Za-z0-9:_.-]{1,100}")
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "cookie",
        "host",
        "transfer-encoding",
        "user-agent",
        SIGNATURE_HEADER.lower(),
    }
)
_RESERVED_PREFIXES = ("x-atlassian-", "x-forwarded-")


class SourceError(ValueError):
    """A source cannot be created or changed as asked; the message says why."""


class DuplicateSource(SourceError):
    """Another source already has this name."""


class SourceMode(enum.StrEnum):
    CLOUD_SIGNATURE = "cloud-signature"
    HEADER_TOKEN = "header-token"
    BEARER = "bearer"

    @property
    def hashed(self) -> bool:
        """The secret is stored as a digest (header-token, bearer), not encrypted."""
        return self is not SourceMode.CLOUD_SIGNATURE


@dataclass(frozen=True, slots=True)
class Source:
    """A stored source. `secret` and `previous_secret` are as stored (encrypted or hashed)."""

    key: str = field(repr=False)
    name: str
    mode: SourceMode
    header: str | None
    events: tuple[str, ...] | None
    created_at: float
    rotated_at: float | None
    previous_expires_at: float | None
    secret: str = field(repr=False)
    previous_secret: str | None = field(repr=False)
    url_template: str | None = None

    @property
    def credential_header(self) -> str:
        """The request header that carries this source's credential."""
        if self.mode is SourceMode.CLOUD_SIGNATURE:
            return SIGNATURE_HEADER
        if self.mode is SourceMode.BEARER:
            return "Authorization"
        return self.header or DEFAULT_TOKEN_HEADER

    def allows(self, event: str) -> bool:
        """True if `event` passes the allow-list (every event does when there is none)."""
        return self.events is None or event in self.events

    def in_grace(self, now: float) -> bool:
        """True while the previous secret is still accepted."""
        return (
            self.previous_secret is not None
            and self.previous_expires_at is not None
            and now < self.previous_expires_at
        )


def new_secret() -> str:
    """A strong random secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def new_source_key() -> str:
    """An unguessable URL key (192 bits, URL-safe): the key is a credential too."""
    return secrets.token_urlsafe(24)


def webhook_url(base_url: str, key: str) -> str:
    """The URL to paste into Jira for the source with `key`."""
    return base_url.rstrip("/") + SOURCE_PATH + key


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SourceError(
            f"source name {name[:80]!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_header(mode: SourceMode, header: str | None) -> str | None:
    """The header name to store: required shape for header-token, none for the other modes."""
    if mode is not SourceMode.HEADER_TOKEN:
        if header is not None:
            raise SourceError(
                f"--header applies to header-token sources only; {mode.value} sources use "
                + (SIGNATURE_HEADER if mode is SourceMode.CLOUD_SIGNATURE else "Authorization")
            )
        return None
    name = DEFAULT_TOKEN_HEADER if header is None else header.strip()
    lower = name.lower()
    if not _HEADER.fullmatch(name):
        raise SourceError(f"header name {name[:80]!r} is not a valid HTTP header name")
    if lower in _RESERVED_HEADERS or lower.startswith(_RESERVED_PREFIXES):
        raise SourceError(
            f"header name {name!r} is reserved; choose another, e.g. {DEFAULT_TOKEN_HEADER}"
        )
    return name


def check_events(events: Iterable[str] | None) -> tuple[str, ...] | None:
    """The allow-list as stored: distinct names in the order given, or None for every event."""
    if events is None:
        return None
    names = tuple(dict.fromkeys(e.strip() for e in events if e.strip()))
    if not names:
        raise SourceError("the event list is empty; leave it out to accept every event")
    if len(names) > MAX_EVENTS:
        raise SourceError(f"at most {MAX_EVENTS} events may be listed")
    for name in names:
        if not _EVENT.fullmatch(name):
            raise SourceError(f"{name[:100]!r} is not a Jira webhook event name")
    return names


def check_url_template(template: str | None) -> str | None:
    """A query with Jira's ${...} variables (e.g. `?issueKey=${issue.key}`), or None."""
    if template is None or not template.strip():
        return None
    template = template.strip()
    if not template.startswith("?"):
        raise SourceError(
            "the URL template is the query Jira appends to the source URL and starts with '?', "
            "e.g. ?issueKey=${issue.key}&projectKey=${project.key}"
        )
    try:
        parsed = UrlTemplate.parse(SOURCE_PATH + "x" + template)
    except DescriptorError as exc:
        raise SourceError(f"the URL template is not valid: {exc}") from None
    if not parsed.parameters:
        raise SourceError("the URL template names no ${...} variable")
    return template


def context_from_url(source: Source, query: str) -> dict[str, str]:
    """The values Jira substituted into the source's URL template, percent-decoded."""
    if source.url_template is None:
        return {}
    template = UrlTemplate.parse(SOURCE_PATH + "x" + source.url_template)
    return template.match(SOURCE_PATH + "x", query) or {}


def check_secret(mode: SourceMode, secret: str) -> str:
    """A secret fit for `mode`: long enough, no control characters; no whitespace in a header."""
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise SourceError(
            f"the secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters long"
        )
    if any(not c.isprintable() for c in secret):
        raise SourceError("the secret must not contain control characters")
    if mode.hashed and any(c.isspace() for c in secret):
        raise SourceError(f"a {mode.value} secret is sent in a header: it must not contain spaces")
    return secret
