"""Forge Remote installations as the inspector shows them: never the system token, only until when
one is held."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from addon.forge import ForgeInstallation
from addon.inspector._present import iso_time, time_text

__all__ = ["ForgeView", "forge_json", "forge_state", "forge_view"]


def forge_state(installation: ForgeInstallation, now: float | None = None) -> str:
    """`uninstalled`, `silent` (no scheduled-trigger call for three hours) or `active`."""
    if installation.uninstalled:
        return "uninstalled"
    return "silent" if installation.silent(now) else "active"


@dataclass(frozen=True, slots=True)
class ForgeView:
    """One Forge installation on the tenants page."""

    installation_id: str
    state: str
    site: str
    cloud_id: str | None
    api_base_url: str
    app_version: str | None
    environment: str | None
    installed_text: str
    last_tick_text: str
    token_text: str


def forge_view(installation: ForgeInstallation, now: float | None = None) -> ForgeView:
    moment = time.time() if now is None else now
    expires = installation.system_token_expires_at
    if expires is None:
        token = "none"
    elif expires <= moment:
        token = f"expired {time_text(expires)}"
    else:
        token = f"until {time_text(expires)}"
    return ForgeView(
        installation_id=installation.installation_id,
        state=forge_state(installation, moment),
        site=installation.site_url or installation.api_base_url,
        cloud_id=installation.cloud_id,
        api_base_url=installation.api_base_url,
        app_version=installation.app_version,
        environment=installation.environment,
        installed_text=time_text(installation.installed_at),
        last_tick_text=time_text(installation.last_tick_at) or "never",
        token_text=token,
    )


def forge_json(installation: ForgeInstallation, now: float | None = None) -> dict[str, Any]:
    return {
        "installation_id": installation.installation_id,
        "state": forge_state(installation, now),
        "site_url": installation.site_url,
        "cloud_id": installation.cloud_id,
        "api_base_url": installation.api_base_url,
        "app_version": installation.app_version,
        "environment": installation.environment,
        "installed_at": iso_time(installation.installed_at),
        "updated_at": iso_time(installation.updated_at),
        "last_tick_at": iso_time(installation.last_tick_at),
        "uninstalled_at": iso_time(installation.uninstalled_at),
        "system_token_expires_at": iso_time(installation.system_token_expires_at),
    }
