"""One background pass over every connected site: its webhooks kept alive, each site on its own.

The app factory runs it periodically under a lease (one instance at a time). A site whose grant
was refused is skipped until it is reconnected; one site's failure never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from addon.sites._errors import AtlassianError, NeedsReconnect
from addon.sites._records import SiteStatus
from addon.sites._store import SiteStore
from addon.sites._webhooks import UpkeepReport, WebhookKeeper
from addon.store import StoreUnavailable

__all__ = ["SiteUpkeep", "upkeep_sites"]

logger = logging.getLogger("addon.sites")


@dataclass(frozen=True, slots=True)
class SiteUpkeep:
    """What one pass did for one site: its report, or why it did nothing."""

    cloud_id: str
    url: str
    report: UpkeepReport | None = None
    skipped: str | None = None
    failed: str | None = None


async def upkeep_sites(store: SiteStore, keeper: WebhookKeeper) -> list[SiteUpkeep]:
    outcomes: list[SiteUpkeep] = []
    for site in await store.all():
        if site.status is not SiteStatus.CONNECTED:
            outcomes.append(SiteUpkeep(site.cloud_id, site.url, skipped=site.status.value))
            continue
        try:
            report = await keeper.upkeep(site)
        except NeedsReconnect as exc:
            outcomes.append(SiteUpkeep(site.cloud_id, site.url, skipped=str(exc)))
        except (AtlassianError, StoreUnavailable) as exc:
            logger.warning("oauth site %s: webhook upkeep failed: %s", site.url, exc)
            outcomes.append(SiteUpkeep(site.cloud_id, site.url, failed=str(exc)))
        else:
            outcomes.append(SiteUpkeep(site.cloud_id, site.url, report=report))
    return outcomes
