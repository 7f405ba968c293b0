"""Sources: the Jira sites that send admin webhooks, each with its URL key, mode and secret.

The cloud-signature secret is needed in the clear to compute the HMAC, so it is stored like tenant
secrets: through the `SecretBox`, encrypted when ADDON_ENCRYPTION_KEY is set, with the source key
bound as associated data. Header-token and bearer secrets are stored only as `sha256:<hex>` digests
(see `addon.sources._verify`). A rotation may keep the previous secret valid for a grace period.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable

from addon.sources._errors import SourceSecretUnavailable
from addon.sources._model import (
    DuplicateSource,
    Source,
    SourceError,
    SourceMode,
    check_events,
    check_header,
    check_name,
    check_secret,
    check_url_template,
    new_source_key,
)
from addon.sources._verify import hash_token
from addon.store import DecryptionError, SecretBox
from addon.store._crypto import is_encrypted
from addon.store._db import Conflict, Db, Row

__all__ = ["Sources", "secure_source_secrets"]


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
