"""What an admin is shown of a connected site (CLI and inspector alike): never a token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from addon.sites._records import Site, SiteWebhook
from addon.sites._store import SiteStore

__all__ = ["all_site_facts", "site_facts"]


def _when(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_facts(site: Site, webhooks: Sequence[SiteWebhook], *, now: float) -> dict[str, Any]:
    """A site's OAuth facts as plain JSON values."""
    warning = None
    if site.refresh_token_warning(now):
        warning = (
            "the refresh token ends within a month: only a new consent (/oauth/connect) renews it"
        )
    return {
        "url": site.url,
        "cloud_id": site.cloud_id,
        "name": site.name,
        "status": site.status.value,
        "status_reason": site.status_reason,
        "scopes": list(site.scopes),
        "projects": list(site.projects) if site.projects is not None else None,
        "webhooks": [
            {"id": hook.webhook_id, "expires_at": _when(hook.expires_at), "jql": hook.jql}
            for hook in webhooks
        ],
        "webhook_errors": list(site.webhook_errors),
        "refresh_token_ends_at": _when(site.refresh_expires_at),
        "refresh_token_warning": warning,
        "connected_at": _when(site.connected_at),
        "last_delivery_at": _when(site.last_delivery_at),
    }


async def all_site_facts(store: SiteStore, *, now: float) -> list[dict[str, Any]]:
    return [
        site_facts(site, await store.webhooks(site.cloud_id), now=now) for site in await store.all()
    ]
