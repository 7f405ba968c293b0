"""What the OAuth door does besides verifying deliveries, for its routes, jobs and the CLI: connect a
site, keep its tokens and webhooks alive, record a heartbeat, catch up gaps, disconnect.

Every decision is taken on `clock`, which tests move forward.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from addon.delivery import Delivery, Evidence, Origin, WebhookHeaders
from addon.incoming import Incoming
from addon.ingest import Ingest
from addon.reach import site_name
from addon.settings import Settings
from addon.sites._api import AtlassianApi
from addon.sites._catchup import CATCH_UP_EVENT, CaughtUpIssue, catch_up
from addon.sites._client import gateway_url
from addon.sites._connect import Consent, connect_site
from addon.sites._errors import AtlassianError, NeedsReconnect, UnknownSite
from addon.sites._points import CatchUpPoints
from addon.sites._records import Resource, Site, SiteStatus
from addon.sites._store import SiteStore
from addon.sites._tokens import TokenKeeper
from addon.sites._upkeep import SiteUpkeep, upkeep_sites
from addon.sites._webhooks import UpkeepReport, WebhookKeeper
from addon.store import DeliveryFilter, Store, StoreUnavailable

__all__ = ["GAP_SECONDS", "KIND", "MAX_GAP_SECONDS", "SiteWork", "delivery_path"]

KIND = "oauth"
GAP_SECONDS = 150.0
"""A heartbeat older than this (two and a half beats) means no instance was running."""
MAX_GAP_SECONDS = 30 * 24 * 3600.0
"""A catch-up goes back at most this far: Jira forgets a webhook after 30 days anyway."""

logger = logging.getLogger("addon.sites")


def delivery_path(cloud_id: str) -> str:
    return f"/oauth/sites/{cloud_id}/webhook"


class SiteWork:
    """One instance's OAuth machinery over one store."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float],
    ) -> None:
        assert settings.atlassian_client_id and settings.atlassian_client_secret
        self.settings = settings
        self.store = store
        self.http = http
        self.clock = clock
        self.sites = SiteStore(store.db, store.box)
        self.api = AtlassianApi(
            http,
            auth_url=settings.atlassian_auth_url,
            api_url=settings.atlassian_api_url,
            client_id=settings.atlassian_client_id,
            client_secret=settings.atlassian_client_secret,
        )
        self.tokens = TokenKeeper(self.sites, self.api, clock=clock)
        self.webhooks = WebhookKeeper(
            self.sites,
            self.api,
            self.tokens,
            delivery_url=self.delivery_url,
            events=settings.site_webhook_events,
            refresh_days=settings.site_webhook_refresh_days,
            clock=clock,
        )
        self.ingest = Ingest(store.writer)
        self.points = CatchUpPoints(store.db)
        self._gap_since: float | None = None

    def delivery_url(self, site: Site) -> str:
        return self.settings.base_url.rstrip("/") + delivery_path(site.cloud_id)

    def gateway(self, site: Site) -> str:
        return gateway_url(self.settings.atlassian_api_url, site.cloud_id)

    async def find(self, name: str) -> Site:
        """The site named by its cloudId or URL; `UnknownSite` if none is."""
        site = await self.sites.get(name.strip())
        if site is None and "." in name:
            wanted = site_name(name)
            site = next((s for s in await self.sites.all() if site_name(s.url) == wanted), None)
        if site is None:
            raise UnknownSite(f"no site {name!r} is connected with OAuth (addon oauth list)")
        return site

    async def site_by_name(self, wanted: str) -> Site | None:
        """The connected site whose `site_name` is `wanted`."""
        for site in await self.sites.all():
            if site.status is SiteStatus.CONNECTED and site_name(site.url) == wanted:
                return site
        return None

    async def connect(
        self, consent: Consent, resource: Resource, *, projects: tuple[str, ...] | None = None
    ) -> tuple[Site, UpkeepReport | None, str | None]:
        """Store the consent for `resource` and register its webhooks (for `projects`, or every
        project); the site, what was registered, and why registering failed (if it did)."""
        site = await connect_site(
            self.sites, consent, resource, now=self.clock(), projects=projects
        )
        logger.info("oauth site %s connected (cloudId %s)", site.url, site.cloud_id)
        try:
            report = await self.webhooks.upkeep(site)
        except AtlassianError as exc:
            await self.sites.record_webhook_errors(site.cloud_id, [str(exc)], now=self.clock())
            logger.warning("oauth site %s: registering webhooks failed: %s", site.url, exc)
            return site, None, str(exc)
        await self.points.seen_alive(site.cloud_id, now=self.clock())
        return site, report, None

    async def upkeep(self) -> list[SiteUpkeep]:
        """One pass over every connected site's webhooks, each followed by `_after_upkeep`."""
        outcomes = await upkeep_sites(self.sites, self.webhooks)
        for outcome in outcomes:
            if outcome.report is not None:
                await self._after_upkeep(outcome.cloud_id, outcome.report)
        return outcomes

    async def upkeep_site(self, site: Site) -> tuple[UpkeepReport, int | None]:
        """One site's pass now (`addon oauth refresh`); its report, and how many issue changes
        were caught up after a re-registration (None: none was needed, or it failed)."""
        report = await self.webhooks.upkeep(site)
        return report, await self._after_upkeep(site.cloud_id, report)

    async def _after_upkeep(self, cloud_id: str, report: UpkeepReport) -> int | None:
        """A gap (a webhook Jira forgot, now registered again) is caught up from the last time the
        site's webhooks were seen alive, by whichever instance saw it (the database keeps it)."""
        now = self.clock()
        caught = None
        if report.forgotten and report.registered:
            site = await self.sites.get(cloud_id)
            if site is not None:
                since = await self.points.alive_at(site.cloud_id) or site.last_delivery_at
                since = max(since or site.connected_at, now - MAX_GAP_SECONDS)
                caught = await self._catch_up_logged(site, since)
        await self.points.seen_alive(cloud_id, now=now)
        return caught

    async def refresh_tokens(self) -> None:
        """Refresh every connected site's access token that is about to expire (which also keeps
        its refresh token in use)."""
        for site in await self.sites.all():
            if site.status is not SiteStatus.CONNECTED:
                continue
            try:
                await self.tokens.access_token(site.cloud_id)
            except NeedsReconnect:
                continue
            except AtlassianError as exc:
                logger.warning("oauth site %s: token refresh failed: %s", site.url, exc)

    async def starting(self) -> None:
        """At start-up: if no instance has run for a while (the last heartbeat is old), the next
        heartbeat catches every connected site up from it."""
        last = await self.sites.last_heartbeat()
        if last is not None and self.clock() - last > GAP_SECONDS:
            self._gap_since = last

    async def heartbeat(self) -> None:
        """Say this instance runs; after a gap found at start-up, catch up every connected site
        from the last beat; and run the second pass of earlier catch-ups."""
        now = self.clock()
        since, self._gap_since = self._gap_since, None
        if since is not None:
            logger.info("oauth: no instance ran for %.0f s; catching up every site", now - since)
            for site in await self.sites.all():
                if site.status is SiteStatus.CONNECTED:
                    await self._catch_up_logged(site, max(since, now - MAX_GAP_SECONDS))
        for planned in await self.points.due(now=now):
            if not await self.points.take(planned):
                continue
            current = await self.sites.get(planned.cloud_id)
            if current is not None and current.status is SiteStatus.CONNECTED:
                await self._catch_up_logged(current, planned.since, again=False)
        await self.sites.beat(now=now)

    async def _catch_up_logged(self, site: Site, since: float, *, again: bool = True) -> int | None:
        try:
            count = await self.catch_up(site, since, again=again)
        except NeedsReconnect:
            return None
        except (AtlassianError, StoreUnavailable) as exc:
            logger.warning("oauth site %s: catch-up failed: %s", site.url, exc)
            return None
        logger.info("oauth site %s: caught up %d issue change(s) since %s", site.url, count, since)
        return count

    async def catch_up(self, site: Site, since: float, *, again: bool = True) -> int:
        """Record each issue change at or after `since` not recorded yet; how many were new.

        Search is eventually consistent: unless `again` is False, the same gap is searched once
        more a minute later (at the next heartbeat of any instance)."""
        token = await self.tokens.access_token(site.cloud_id)
        keys = site.projects
        if keys is None:
            keys = tuple(p.key for p in await self.api.projects(token, site.cloud_id))
        zone = await self._zone(token, site)
        changes = await catch_up(self.api, token, site.cloud_id, keys, since=since, zone=zone)
        recorded = 0
        for change in changes:
            if await self._recorded(site, change):
                continue
            await self.ingest.record(self._delivery(site, change, since))
            recorded += 1
        if again:
            await self.points.plan_second_pass(site.cloud_id, since=since, due=self.clock() + 60.0)
        return recorded

    async def _zone(self, token: str, site: Site) -> tzinfo:
        """The calling user's time zone, in which JQL reads `updated >=` (UTC if unknown)."""
        try:
            me = await self.api.myself(token, site.cloud_id)
            return ZoneInfo(str(me.get("timeZone") or "UTC"))
        except (AtlassianError, ZoneInfoNotFoundError, ValueError):
            return UTC

    async def _recorded(self, site: Site, change: CaughtUpIssue) -> bool:
        found = await self.store.deliveries.page(
            DeliveryFilter(
                event=CATCH_UP_EVENT, origin=site.cloud_id, origin_kind=KIND, q=change.identifier
            ),
            limit=1,
        )
        return bool(found)

    def _delivery(self, site: Site, change: CaughtUpIssue, since: float) -> Delivery:
        body = json.dumps(change.issue, separators=(",", ":")).encode()
        started = datetime.fromtimestamp(since, UTC).isoformat()
        request = Incoming(
            "POST",
            f"/oauth/sites/{site.cloud_id}/catch-up",
            "",
            (("content-type", "application/json"),),
            body,
            self.clock(),
        )
        fields = change.issue.get("fields")
        project = fields.get("project") if isinstance(fields, dict) else None
        context = {"issue.key": change.key, "issue.id": change.issue_id}
        if isinstance(project, dict) and project.get("key"):
            context["project.key"] = str(project["key"])
        return Delivery(
            origin=Origin(KIND, site.cloud_id, site.url),
            event=CATCH_UP_EVENT,
            payload=dict(change.issue),
            request=request,
            headers=WebhookHeaders(webhook_id=change.identifier),
            context=context,
            evidence=Evidence(
                verification={
                    "scheme": "catch-up",
                    "caught_up": True,
                    "mark": "caught up",
                    "since": started,
                    "updated": change.updated,
                    "shown": {
                        "Caught up": f"found by issue search for changes since {started};"
                        " Jira delivered no webhook for it",
                        "Issue updated": change.updated,
                    },
                }
            ),
        )

    async def disconnect(self, site: Site) -> tuple[list[int], str | None]:
        """Delete the site's webhooks in Jira, then its tokens; the ids deleted, and why the
        webhooks could not be deleted (a site that needs reconnect cannot call Jira)."""
        deleted: list[int] = []
        problem = None
        if site.status is SiteStatus.CONNECTED:
            try:
                deleted = await self.webhooks.remove_all(site)
            except NeedsReconnect as exc:
                problem = str(exc)
        else:
            problem = f"{site.url} is {site.status.value}: its webhooks in Jira were not deleted"
        await self.sites.forget_tokens(site.cloud_id, now=self.clock())
        await self.points.clear(site.cloud_id)
        logger.info("oauth site %s disconnected; webhooks deleted: %s", site.url, deleted)
        return deleted, problem
