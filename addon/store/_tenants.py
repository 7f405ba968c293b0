"""Tenants: the Jira sites that installed the add-on, their state and (encrypted) shared secrets."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from addon.store._crypto import DecryptionError, SecretBox, is_encrypted
from addon.store._db import Db, Row
from addon.store._storable import (
    is_storable_text,
    json_text,
    parse_stored_json,
    storable_text,
)

__all__ = ["Superseded", "Tenant", "TenantState", "Tenants"]

SECRET_FIELDS = frozenset({"sharedSecret", "publicKey"})


class TenantState(enum.StrEnum):
    INSTALLED = "installed"
    ENABLED = "enabled"
    DISABLED = "disabled"
    UNINSTALLED = "uninstalled"


class Superseded(Exception):
    """A lifecycle change signed later (by the tokens' `iat`) is already stored for the tenant."""


@dataclass(frozen=True, slots=True)
class Tenant:
    """A stored tenant; `shared_secret` is decrypted, and None once uninstalled."""

    client_key: str
    shared_secret: str | None
    base_url: str
    display_url: str | None
    product_type: str | None
    description: str | None
    oauth_client_id: str | None
    installation_id: str | None
    payload: Mapping[str, Any]
    state: TenantState
    state_iat: int
    installed_at: float | None
    updated_at: float
    uninstalled_at: float | None

    @property
    def active(self) -> bool:
        """Webhooks from this tenant are handled (installed or enabled).

        A tenant installed through Forge is active from its signed `installed` on: once an app is
        on Forge, Jira sends no `enabled` or `disabled` ("Versioning in Connect vs Forge").
        """
        return self.state in (TenantState.INSTALLED, TenantState.ENABLED)

    @property
    def installed_through(self) -> str:
        """`forge` when the last `installed` came from a Forge installation, else `descriptor`."""
        return "forge" if self.installation_id else "descriptor"


def _text(value: Any) -> str | None:
    return storable_text(value) if isinstance(value, str) and value else None


class Tenants:
    """Reads and writes tenants; every secret passes through the `SecretBox`."""

    def __init__(self, db: Db, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def _tenant(self, row: Row) -> Tenant:
        stored = row["shared_secret"]
        secret = self._box.decrypt(stored, row["client_key"]) if stored else None
        return Tenant(
            client_key=row["client_key"],
            shared_secret=secret,
            base_url=row["base_url"],
            display_url=row["display_url"],
            product_type=row["product_type"],
            description=row["description"],
            oauth_client_id=row["oauth_client_id"],
            installation_id=row["installation_id"],
            payload=parse_stored_json(row["payload"], {}),
            state=TenantState(row["state"]),
            state_iat=int(row["state_iat"]),
            installed_at=row["installed_at"],
            updated_at=row["updated_at"],
            uninstalled_at=row["uninstalled_at"],
        )

    async def get(self, client_key: str) -> Tenant | None:
        if not is_storable_text(client_key):
            return None  # a hostile key (a token's iss) no tenant has and the database refuses
        row = await self._db.fetch_one("SELECT * FROM tenants WHERE client_key = ?", (client_key,))
        return None if row is None else self._tenant(row)

    async def all(self) -> list[Tenant]:
        rows = await self._db.fetch_all("SELECT * FROM tenants ORDER BY installed_at DESC")
        return [self._tenant(row) for row in rows]

    async def save_installation(self, payload: Mapping[str, Any], *, iat: int) -> Tenant:
        """Create the tenant or replace its secret and details (a re-install rotates the secret).

        Raises `Superseded` if the tenant's last lifecycle change was signed after `iat`, or is an
        uninstall signed in the same second: an uninstall stays final against what came before it.
        """
        client_key = str(payload["clientKey"])
        secret = self._box.encrypt(str(payload["sharedSecret"]), client_key)
        kept = {k: v for k, v in payload.items() if k not in SECRET_FIELDS}
        installation_id = _text(payload.get("installationId"))
        now = time.time()
        values = (
            secret,
            storable_text(str(payload["baseUrl"])),
            _text(payload.get("displayUrl")),
            _text(payload.get("productType")),
            _text(payload.get("description")),
            _text(payload.get("oauthClientId")),
            installation_id,
            json_text(dict(sorted(kept.items()))),
            TenantState.INSTALLED.value,
            iat,
            now,
            now,
        )
        async with self._db.connection() as conn, conn.transaction():
            count = await conn.execute(
                """INSERT INTO tenants (shared_secret, base_url, display_url, product_type,
                       description, oauth_client_id, installation_id, payload, state, state_iat,
                       installed_at, updated_at, uninstalled_at, client_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
                   ON CONFLICT (client_key) DO UPDATE SET
                       shared_secret = excluded.shared_secret, base_url = excluded.base_url,
                       display_url = excluded.display_url, product_type = excluded.product_type,
                       description = excluded.description,
                       oauth_client_id = excluded.oauth_client_id,
                       installation_id = excluded.installation_id, payload = excluded.payload,
                       state = excluded.state, state_iat = excluded.state_iat,
                       installed_at = excluded.installed_at, updated_at = excluded.updated_at,
                       uninstalled_at = NULL
                   WHERE tenants.state_iat < excluded.state_iat
                       OR (tenants.state_iat = excluded.state_iat AND tenants.state <> ?)""",
                (*values, client_key, TenantState.UNINSTALLED.value),
            )
            if count == 0:
                raise Superseded(f"tenant {client_key} changed after the install was signed")
            if installation_id is not None:
                await conn.execute(
                    """INSERT INTO tenant_installations
                           (installation_id, client_key, first_seen_at, last_seen_at)
                       VALUES (?, ?, ?, ?)
                       ON CONFLICT (installation_id, client_key) DO UPDATE SET
                           last_seen_at = excluded.last_seen_at""",
                    (installation_id, client_key, now, now),
                )
        tenant = await self.get(client_key)
        assert tenant is not None
        return tenant

    async def installation_ids(self, client_key: str) -> tuple[str, ...]:
        """Every Forge installation id the tenant has had, oldest first."""
        rows = await self._db.fetch_all(
            """SELECT installation_id FROM tenant_installations WHERE client_key = ?
               ORDER BY first_seen_at, installation_id""",
            (client_key,),
        )
        return tuple(row["installation_id"] for row in rows)

    async def for_installation(self, installation_id: str) -> Tenant | None:
        """The tenant a Forge installation id (its latest or an earlier one) belongs to."""
        if not is_storable_text(installation_id):
            return None
        row = await self._db.fetch_one(
            """SELECT client_key FROM tenant_installations WHERE installation_id = ?
               ORDER BY last_seen_at DESC LIMIT 1""",
            (installation_id,),
        )
        return None if row is None else await self.get(row["client_key"])

    async def mark_uninstalled(self, client_key: str, *, iat: int | None = None) -> bool:
        """Mark uninstalled and erase the secret; True if the tenant exists.

        With `iat` (the token's) the uninstall is ordered: raises `Superseded` if the tenant's last
        lifecycle change was signed later, and is remembered so that nothing signed before it (or
        in the same second) installs the tenant again. Uninstalling twice changes nothing.
        """
        now = time.time()
        uninstalled = TenantState.UNINSTALLED.value
        if iat is None:
            count = await self._db.execute(
                """UPDATE tenants SET state = ?, shared_secret = NULL, updated_at = ?,
                       uninstalled_at = COALESCE(uninstalled_at, ?)
                   WHERE client_key = ?""",
                (uninstalled, now, now, client_key),
            )
        else:
            count = await self._db.execute(
                """UPDATE tenants SET state = ?, shared_secret = NULL, updated_at = ?,
                       uninstalled_at = COALESCE(uninstalled_at, ?),
                       state_iat = CASE WHEN state_iat < ? THEN ? ELSE state_iat END
                   WHERE client_key = ? AND (state = ? OR state_iat <= ?)""",
                (uninstalled, now, now, iat, iat, client_key, uninstalled, iat),
            )
        if count > 0:
            return True
        if await self.get(client_key) is None:
            return False
        raise Superseded(f"tenant {client_key} changed after the uninstall was signed")

    async def set_state(self, client_key: str, state: TenantState, *, iat: int) -> bool:
        """Set enabled/disabled unless uninstalled or a newer (by token iat) state is stored."""
        count = await self._db.execute(
            """UPDATE tenants SET state = ?, state_iat = ?, updated_at = ?
               WHERE client_key = ? AND state <> ? AND state_iat <= ?""",
            (state.value, iat, time.time(), client_key, TenantState.UNINSTALLED.value, iat),
        )
        return count > 0

    async def purge(self, client_key: str) -> int:
        """Delete the tenant and everything stored for it; returns the deliveries removed."""
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                """DELETE FROM delivery_keys WHERE delivery_id IN
                       (SELECT id FROM deliveries WHERE origin_kind = 'connect' AND origin = ?)""",
                (client_key,),
            )
            removed = await conn.execute(
                "DELETE FROM deliveries WHERE origin_kind = 'connect' AND origin = ?", (client_key,)
            )
            await conn.execute(
                "DELETE FROM tenant_installations WHERE client_key = ?", (client_key,)
            )
            await conn.execute("DELETE FROM tenants WHERE client_key = ?", (client_key,))
        return removed

    async def reencrypt_plaintext(self) -> int:
        """Encrypt secrets stored before encryption was turned on; returns rows changed."""
        return await self.reencrypt(plaintext_only=True)

    async def reencrypt(self, *, plaintext_only: bool = False) -> int:
        """Rewrite every secret under the first key (also encrypts plaintext); returns rows changed.

        Raises `DecryptionError` naming the tenant if a stored secret decrypts with no configured key.
        """
        rows = await self._db.fetch_all(
            "SELECT client_key, shared_secret FROM tenants WHERE shared_secret IS NOT NULL"
        )
        changed = 0
        for row in rows:
            stored, client_key = row["shared_secret"], row["client_key"]
            try:
                plain = self._box.decrypt(stored, client_key)
            except DecryptionError as exc:
                raise DecryptionError(f"tenant {client_key}: {exc}") from None
            if not self._box.needs_rewrite(stored) or (plaintext_only and is_encrypted(stored)):
                continue
            await self._db.execute(
                "UPDATE tenants SET shared_secret = ? WHERE client_key = ? AND shared_secret = ?",
                (self._box.encrypt(plain, client_key), client_key, stored),
            )
            changed += 1
        return changed

    async def check_secrets(self) -> None:
        """Raise `DecryptionError` if any stored secret cannot be read with the configured keys."""
        rows = await self._db.fetch_all(
            "SELECT client_key, shared_secret FROM tenants WHERE shared_secret IS NOT NULL"
        )
        for row in rows:
            try:
                self._box.decrypt(row["shared_secret"], row["client_key"])
            except DecryptionError as exc:
                raise DecryptionError(f"tenant {row['client_key']}: {exc}") from None
