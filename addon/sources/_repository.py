"""Sources: the Jira sites that send admin webhooks, each with its URL key, mode and secret.

The cloud-signature secret is needed in the clear to compute the HMAC, so it is stored like tenant
secrets: through the `SecretBox`, encrypted when ADDON_ENCRYPTION_KEY is set, with the source key
bound as associated data. Header-token and bearer secrets are stored only as `sha256:<hex>` digests
(see `addon.sources._verify`). A rotation may keep the previous secret valid for a grace period.
"""

from __future__ import annotations

import builtins
import enum
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from addon.sources._errors import SourceSecretUnavailable
from addon.sources._verify import SIGNATURE_HEADER, hash_token
from addon.store import DecryptionError, SecretBox
from addon.store._crypto import is_encrypted
from addon.store._db import Conflict, Db, Row
from descriptor import DescriptorError, UrlTemplate

__all__ = [
    "DEFAULT_TOKEN_HEADER",
    "SOURCE_PATH",
    "DuplicateSource",
    "Source",
    "SourceError",
    "SourceMode",
    "Sources",
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


class Sources:
    """Reads and writes sources; cloud secrets pass through the `SecretBox`, others are hashed."""

    def __init__(self, db: Db, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def _seal(self, mode: SourceMode, secret: str, key: str) -> str:
        return hash_token(secret) if mode.hashed else self._box.encrypt(secret, key)

    @staticmethod
    def _source(row: Row) -> Source:
        events = json.loads(row["events"]) if row["events"] else None
        return Source(
            key=row["source_key"],
            name=row["name"],
            mode=SourceMode(row["mode"]),
            header=row["header"],
            events=tuple(events) if events is not None else None,
            created_at=float(row["created_at"]),
            rotated_at=row["rotated_at"],
            previous_expires_at=row["previous_expires_at"],
            secret=row["secret"],
            previous_secret=row["previous_secret"],
            url_template=row["url_template"],
        )

    async def add(
        self,
        name: str,
        mode: SourceMode,
        secret: str,
        *,
        header: str | None = None,
        events: Iterable[str] | None = None,
        key: str | None = None,
        now: float | None = None,
        url_template: str | None = None,
    ) -> Source:
        """Create a source; raises `SourceError` (`DuplicateSource` if the name is taken)."""
        check_name(name)
        url_template = check_url_template(url_template)
        stored_header = check_header(mode, header)
        allowed = check_events(events)
        check_secret(mode, secret)
        key = key or new_source_key()
        if await self.get_by_name(name) is not None:
            raise DuplicateSource(f"a source named {name!r} already exists")
        try:
            await self._db.execute(
                """INSERT INTO sources (source_key, name, mode, header, events, secret,
                       previous_secret, previous_expires_at, created_at, rotated_at, url_template)
                   VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL, ?)""",
                (
                    key,
                    name,
                    mode.value,
                    stored_header,
                    json.dumps(list(allowed)) if allowed is not None else None,
                    self._seal(mode, secret, key),
                    time.time() if now is None else now,
                    url_template,
                ),
            )
        except Conflict:
            raise DuplicateSource(f"a source named {name!r} already exists") from None
        source = await self.get_by_key(key)
        assert source is not None
        return source

    async def get_by_key(self, key: str) -> Source | None:
        row = await self._db.fetch_one("SELECT * FROM sources WHERE source_key = ?", (key,))
        return None if row is None else self._source(row)

    async def get_by_name(self, name: str) -> Source | None:
        row = await self._db.fetch_one("SELECT * FROM sources WHERE name = ?", (name,))
        return None if row is None else self._source(row)

    async def list(self) -> builtins.list[Source]:
        rows = await self._db.fetch_all("SELECT * FROM sources ORDER BY name")
        return [self._source(row) for row in rows]

    async def rotate(
        self, name: str, secret: str, *, grace: float = 0.0, now: float | None = None
    ) -> Source | None:
        """Replace the secret; the old one keeps working for `grace` seconds (none if 0).

        A second rotation within the grace period drops the oldest secret. None if no such source.
        """
        source = await self.get_by_name(name)
        if source is None:
            return None
        check_secret(source.mode, secret)
        if grace < 0:
            raise SourceError("the grace period must not be negative")
        now = time.time() if now is None else now
        previous = "secret" if grace > 0 else "NULL"
        await self._db.execute(
            f"""UPDATE sources SET previous_secret = {previous}, previous_expires_at = ?,
                    secret = ?, rotated_at = ?
                WHERE source_key = ?""",
            (
                now + grace if grace > 0 else None,
                self._seal(source.mode, secret, source.key),
                now,
                source.key,
            ),
        )
        return await self.get_by_key(source.key)

    async def remove(self, name: str) -> bool:
        """Delete the source (its URL stops working); its deliveries stay in the log."""
        return await self._db.execute("DELETE FROM sources WHERE name = ?", (name,)) > 0

    def accepted_secrets(self, source: Source, now: float) -> tuple[str, ...]:
        """What a delivery may match now: HMAC secrets in the clear (cloud) or token digests.

        Raises `SourceSecretUnavailable` if a cloud secret cannot be decrypted.
        """
        stored = [source.secret]
        if source.in_grace(now) and source.previous_secret is not None:
            stored.append(source.previous_secret)
        if source.mode.hashed:
            return tuple(stored)
        try:
            return tuple(self._box.decrypt(value, source.key) for value in stored)
        except DecryptionError as exc:
            raise SourceSecretUnavailable(
                f"the secret of source {source.name} cannot be decrypted: {exc}"
            ) from None

    async def check_secrets(self) -> None:
        """Raise `DecryptionError` naming the source if a stored cloud secret cannot be read."""
        for source in await self.list():
            if source.mode.hashed:
                continue
            for value in (source.secret, source.previous_secret):
                if value is None:
                    continue
                try:
                    self._box.decrypt(value, source.key)
                except DecryptionError as exc:
                    raise DecryptionError(f"source {source.name}: {exc}") from None

    async def reencrypt(self, *, plaintext_only: bool = False) -> int:
        """Rewrite cloud secrets under the first key (encrypting plaintext); the count changed."""
        changed = 0
        for source in await self.list():
            if source.mode.hashed:
                continue
            values: list[str | None] = []
            for value in (source.secret, source.previous_secret):
                if (
                    value is None
                    or not self._box.needs_rewrite(value)
                    or (plaintext_only and is_encrypted(value))
                ):
                    values.append(value)
                    continue
                try:
                    plain = self._box.decrypt(value, source.key)
                except DecryptionError as exc:
                    raise DecryptionError(f"source {source.name}: {exc}") from None
                values.append(self._box.encrypt(plain, source.key))
            if values == [source.secret, source.previous_secret]:
                continue
            await self._db.execute(
                """UPDATE sources SET secret = ?, previous_secret = ?
                   WHERE source_key = ? AND secret = ?""",
                (values[0], values[1], source.key, source.secret),
            )
            changed += 1
        return changed


async def secure_source_secrets(db: Db, box: SecretBox, *, encrypt_plaintext: bool) -> None:
    """At start-up: refuse to run if a stored cloud secret is unreadable; encrypt plaintext ones."""
    sources = Sources(db, box)
    await sources.check_secrets()
    if encrypt_plaintext and box.enabled:
        await sources.reencrypt(plaintext_only=True)
