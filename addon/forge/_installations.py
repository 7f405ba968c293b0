"""Forge installations: where each one's site and API are, when it was last heard from, and the
app's system token, encrypted at rest with the store's `SecretBox` (its installation id bound as
associated data, as a tenant's clientKey is for its shared secret)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from addon.store import DecryptionError, SecretBox
from addon.store._crypto import is_encrypted
from addon.store._db import Db, Row

__all__ = ["SILENT_AFTER", "ForgeInstallation", "ForgeInstallations", "SiteDetails"]

SILENT_AFTER = 3 * 60 * 60
"""Seconds without a scheduled-trigger call (hourly) after which an installation shows as silent."""


@dataclass(frozen=True, slots=True)
class SiteDetails:
    """What a verified invocation says about its installation."""

    installation_id: str
    api_base_url: str
    cloud_id: str | None = None
    site_url: str | None = None
    app_version: str | None = None
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class ForgeInstallation:
    """A stored Forge installation; the system token itself is read with `system_token()`."""

    installation_id: str
    cloud_id: str | None
    site_url: str | None
    api_base_url: str
    app_version: str | None
    environment: str | None
    installed_at: float | None
    updated_at: float
    last_tick_at: float | None
    uninstalled: bool
    uninstalled_at: float | None
    system_token_expires_at: float | None

    def silent(self, now: float | None = None) -> bool:
        """True when the hourly scheduled trigger has not called for `SILENT_AFTER` seconds."""
        if self.uninstalled:
            return False
        heard = self.last_tick_at if self.last_tick_at is not None else self.installed_at
        since = heard if heard is not None else self.updated_at
        return (time.time() if now is None else now) - since >= SILENT_AFTER


def _installation(row: Row) -> ForgeInstallation:
    return ForgeInstallation(
        installation_id=row["installation_id"],
        cloud_id=row["cloud_id"],
        site_url=row["site_url"],
        api_base_url=row["api_base_url"],
        app_version=row["app_version"],
        environment=row["environment"],
        installed_at=row["installed_at"],
        updated_at=row["updated_at"],
        last_tick_at=row["last_tick_at"],
        uninstalled=bool(row["uninstalled"]),
        uninstalled_at=row["uninstalled_at"],
        system_token_expires_at=row["system_token_expires_at"],
    )


_COLUMNS = """installation_id, cloud_id, site_url, api_base_url, app_version, environment,
    installed_at, updated_at, last_tick_at, uninstalled, uninstalled_at, system_token_expires_at"""


class ForgeInstallations:
    """Reads and writes Forge installations; the system token passes through the `SecretBox`."""

    def __init__(self, db: Db, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def get(self, installation_id: str) -> ForgeInstallation | None:
        if "\x00" in installation_id or not installation_id.isprintable():
            return None
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM forge_installations WHERE installation_id = ?",
            (installation_id,),
        )
        return None if row is None else _installation(row)

    async def all(self) -> list[ForgeInstallation]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM forge_installations ORDER BY updated_at DESC"
        )
        return [_installation(row) for row in rows]

    async def for_cloud(self, cloud_id: str) -> list[ForgeInstallation]:
        """The installations on one site (a reinstall brings a new installation id), newest first."""
        rows = await self._db.fetch_all(
            f"""SELECT {_COLUMNS} FROM forge_installations WHERE cloud_id = ?
                ORDER BY updated_at DESC""",
            (cloud_id,),
        )
        return [_installation(row) for row in rows]

    async def seen(
        self, site: SiteDetails, *, installed: bool = False, tick: bool = False, now: float
    ) -> ForgeInstallation:
        """Record a verified call: create the installation or refresh its details.

        `installed` (an `avi:forge:installed:app` or `upgraded:app`) sets the install time on a
        new row and revives an uninstalled one; `tick` (the scheduled trigger) sets the last tick.
        Another call never revives an uninstalled installation.
        """
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO forge_installations (installation_id, cloud_id, site_url,
                       api_base_url, app_version, environment, installed_at, updated_at,
                       last_tick_at, uninstalled)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
                   ON CONFLICT (installation_id) DO UPDATE SET
                       cloud_id = COALESCE(excluded.cloud_id, forge_installations.cloud_id),
                       site_url = COALESCE(excluded.site_url, forge_installations.site_url),
                       api_base_url = excluded.api_base_url,
                       app_version = COALESCE(excluded.app_version,
                                              forge_installations.app_version),
                       environment = COALESCE(excluded.environment,
                                              forge_installations.environment),
                       updated_at = excluded.updated_at,
                       last_tick_at = COALESCE(excluded.last_tick_at,
                                               forge_installations.last_tick_at)""",
                (
                    site.installation_id,
                    site.cloud_id,
                    site.site_url,
                    site.api_base_url,
                    site.app_version,
                    site.environment,
                    now if installed else None,
                    now,
                    now if tick else None,
                ),
            )
            if installed:
                await conn.execute(
                    """UPDATE forge_installations SET uninstalled = 0, uninstalled_at = NULL,
                           installed_at = COALESCE(installed_at, ?)
                       WHERE installation_id = ?""",
                    (now, site.installation_id),
                )
        stored = await self.get(site.installation_id)
        assert stored is not None
        return stored

    async def save_system_token(self, installation_id: str, token: str, expires_at: float) -> bool:
        """Keep `token` unless the stored one expires later (or the installation is uninstalled);
        True if it was stored."""
        sealed = self._box.encrypt(token, installation_id)
        changed = await self._db.execute(
            """UPDATE forge_installations SET system_token = ?, system_token_expires_at = ?
               WHERE installation_id = ? AND uninstalled = 0
                 AND (system_token_expires_at IS NULL OR system_token_expires_at < ?)""",
            (sealed, expires_at, installation_id, expires_at),
        )
        return changed > 0

    async def system_token(self, installation_id: str, *, now: float | None = None) -> str | None:
        """The installation's system token while it has not expired, else None.

        Raises `DecryptionError` if it cannot be decrypted with the configured keys.
        """
        row = await self._db.fetch_one(
            """SELECT system_token, system_token_expires_at FROM forge_installations
               WHERE installation_id = ? AND uninstalled = 0""",
            (installation_id,),
        )
        if row is None or row["system_token"] is None:
            return None
        if row["system_token_expires_at"] <= (time.time() if now is None else now):
            return None
        try:
            return self._box.decrypt(row["system_token"], installation_id)
        except DecryptionError as exc:
            raise DecryptionError(f"forge installation {installation_id}: {exc}") from None

    async def mark_uninstalled(self, installation_id: str, *, now: float) -> bool:
        """Erase the system token and mark uninstalled (the `preUninstall` call); True if known."""
        changed = await self._db.execute(
            """UPDATE forge_installations SET uninstalled = 1, system_token = NULL,
                   system_token_expires_at = NULL, updated_at = ?,
                   uninstalled_at = COALESCE(uninstalled_at, ?)
               WHERE installation_id = ?""",
            (now, now, installation_id),
        )
        return changed > 0

    async def check_secrets(self) -> None:
        """Raise `DecryptionError` naming the installation if a stored token cannot be read."""
        for installation_id, stored in await self._tokens():
            try:
                self._box.decrypt(stored, installation_id)
            except DecryptionError as exc:
                raise DecryptionError(f"forge installation {installation_id}: {exc}") from None

    async def reencrypt(self, *, plaintext_only: bool = False) -> int:
        """Rewrite every stored token under the first key; returns the rows changed."""
        changed = 0
        for installation_id, stored in await self._tokens():
            if not self._box.needs_rewrite(stored) or (plaintext_only and is_encrypted(stored)):
                continue
            try:
                plain = self._box.decrypt(stored, installation_id)
            except DecryptionError as exc:
                raise DecryptionError(f"forge installation {installation_id}: {exc}") from None
            changed += await self._db.execute(
                """UPDATE forge_installations SET system_token = ?
                   WHERE installation_id = ? AND system_token = ?""",
                (self._box.encrypt(plain, installation_id), installation_id, stored),
            )
        return changed

    async def _tokens(self) -> list[tuple[str, str]]:
        rows = await self._db.fetch_all(
            """SELECT installation_id, system_token FROM forge_installations
               WHERE system_token IS NOT NULL"""
        )
        return [(row["installation_id"], row["system_token"]) for row in rows]
