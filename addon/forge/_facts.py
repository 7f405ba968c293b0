"""Forge installations as sites, for the inspector's Sites page and people (`ListsSites`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from addon.doors import SiteFacts
from addon.forge._installations import ForgeInstallation

__all__ = ["forge_site_facts"]

KIND = "forge"


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def forge_site_facts(installations: Sequence[ForgeInstallation]) -> list[SiteFacts]:
    """Each installation as a site: its status (installed, silent, uninstalled) and plain facts."""
    listed = []
    for i in installations:
        status = "uninstalled" if i.uninstalled else "silent" if i.silent() else "installed"
        facts = [
            ("cloudId", i.cloud_id or "?"),
            ("App version", i.app_version or "?"),
            ("Environment", i.environment or "?"),
            ("Last scheduled tick", _when(i.last_tick_at) or "none"),
        ]
        url = i.site_url or i.api_base_url
        listed.append(SiteFacts(url, KIND, i.installation_id, status, facts, (), i.cloud_id))
    return listed
