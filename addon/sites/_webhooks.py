"""Dynamic webhooks that never lapse: register, refresh well before Jira's 30 days run out,
re-register what Jira forgot, and cover new projects (new filter first, then the old one deleted).

Facts (Jira REST API v3, "Webhooks" group; ../notes B6): registration answers 200 with per-entry
`errors`; `PUT /webhook/refresh` ignores unknown ids and answers the new `expirationDate`; a
registration's JQL cannot be edited; `DELETE /webhook` takes `{"webhookIds": [...]}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from addon.sites._api import AtlassianApi
from addon.sites._records import DAY, Site, SiteWebhook
from addon.sites._store import SiteStore
from addon.sites._tokens import TokenKeeper

__all__ = [
    "UpkeepPlan",
    "UpkeepReport",
    "WebhookKeeper",
    "parse_expiration",
    "plan_upkeep",
    "project_filter",
    "spare_copies",
]

logger = logging.getLogger("addon.sites")


def project_filter(project_keys: Sequence[str]) -> str:
    """`project IN ("A", "B")`: a filter within the JQL subset dynamic webhooks accept."""
    quoted = ", ".join(
        '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"' for key in project_keys
    )
    return f"project IN ({quoted})"


def parse_expiration(value: object) -> float | None:
    """Jira's `expirationDate`: epoch milliseconds (GET /webhook) or ISO 8601 (the refresh answer)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000.0
    if isinstance(value, str) and value:
        text = value.replace("Z", "+00:00")
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class UpkeepPlan:
    """What to do for one site: register the wanted filter (`register`), then delete `retire`,
    and refresh `refresh`."""

    register: bool
    retire: tuple[int, ...]
    refresh: tuple[int, ...]


def plan_upkeep(
    stored: Sequence[SiteWebhook],
    known_in_jira: Sequence[int],
    *,
    wanted_jql: str,
    wanted_events: Sequence[str],
    now: float,
    refresh_days: int,
) -> UpkeepPlan:
    alive = [hook for hook in stored if hook.webhook_id in set(known_in_jira)]
    current = [
        hook for hook in alive if hook.jql == wanted_jql and set(hook.events) == set(wanted_events)
    ]
    retire = tuple(hook.webhook_id for hook in alive if hook not in current)
    refresh = tuple(
        hook.webhook_id
        for hook in current
        if hook.expires_at is None or hook.expires_at - now < refresh_days * DAY
    )
    return UpkeepPlan(register=not current, retire=retire, refresh=refresh)


def spare_copies(
    stored: Sequence[SiteWebhook], *, wanted_jql: str, wanted_events: Sequence[str]
) -> list[int]:
    """Registrations of the wanted filter beyond one (the one that lasts longest is kept)."""
    current = sorted(
        (h for h in stored if h.jql == wanted_jql and set(h.events) == set(wanted_events)),
        key=lambda h: (h.expires_at or 0.0, h.webhook_id),
    )
    return [h.webhook_id for h in current[:-1]]


@dataclass(slots=True)
class UpkeepReport:
    registered: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retired: list[int] = field(default_factory=list)
    refreshed: list[int] = field(default_factory=list)
    forgotten: list[int] = field(default_factory=list)


class WebhookKeeper:
    """Keeps each connected site's webhooks registered, current and alive."""

    def __init__(
        self,
        store: SiteStore,
        api: AtlassianApi,
        tokens: TokenKeeper,
        *,
        delivery_url: Callable[[Site], str],
        events: Sequence[str],
        refresh_days: int,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._api = api
        self._tokens = tokens
        self._delivery_url = delivery_url
        self._events = tuple(events)
        self._refresh_days = refresh_days
        self._clock = clock
        self._passes: dict[str, asyncio.Lock] = {}

    async def wanted_jql(self, site: Site, token: str) -> str:
        keys = site.projects
        if keys is None:
            keys = tuple(p.key for p in await self._api.projects(token, site.cloud_id))
        return project_filter(sorted(keys))

    async def upkeep(self, site: Site) -> UpkeepReport:
        """One pass for one site; raises `NeedsReconnect` if its grant was refused.

        Passes for one site run one at a time in this instance: a connect and the upkeep job
        passing at once would each find nothing registered and both register."""
        async with self._passes.setdefault(site.cloud_id, asyncio.Lock()):
            return await self._upkeep(site)

    async def _upkeep(self, site: Site) -> UpkeepReport:
        report = UpkeepReport()
        token = await self._tokens.access_token(site.cloud_id)
        jql = await self.wanted_jql(site, token)
        in_jira = {
            int(hook["id"]): parse_expiration(hook.get("expirationDate"))
            for hook in await self._api.list_webhooks(token, site.cloud_id)
        }
        stored = await self._store.webhooks(site.cloud_id)
        report.forgotten = [h.webhook_id for h in stored if h.webhook_id not in in_jira]
        if report.forgotten:
            await self._store.drop_webhooks(site.cloud_id, report.forgotten)
        # Jira's own expiry is the truth for the ones it knows.
        stored = [
            SiteWebhook(h.webhook_id, h.events, h.jql, in_jira[h.webhook_id] or h.expires_at)
            for h in stored
            if h.webhook_id in in_jira
        ]
        plan = plan_upkeep(
            stored,
            list(in_jira),
            wanted_jql=jql,
            wanted_events=self._events,
            now=self._clock(),
            refresh_days=self._refresh_days,
        )
        if plan.register:
            await self._register(site, token, jql, report)
        retire = [*plan.retire] if not plan.register or report.registered else []
        # Two instances passing at once (a connect in one, the job in another) may each have
        # registered the same filter: keep one, or every delivery would come twice for good.
        retire += spare_copies(stored, wanted_jql=jql, wanted_events=self._events)
        if retire:
            await self._api.delete_webhooks(token, site.cloud_id, retire)
            await self._store.drop_webhooks(site.cloud_id, retire)
            report.retired = retire
        refresh = [i for i in plan.refresh if i not in retire]
        if refresh:
            expiration = parse_expiration(
                await self._api.refresh_webhooks(token, site.cloud_id, refresh)
            )
            await self._store.save_webhooks(
                site.cloud_id,
                [
                    SiteWebhook(h.webhook_id, h.events, h.jql, expiration)
                    for h in stored
                    if h.webhook_id in refresh
                ],
                now=self._clock(),
            )
            report.refreshed = refresh
        return report

    async def _register(self, site: Site, token: str, jql: str, report: UpkeepReport) -> None:
        entries = [{"events": list(self._events), "jqlFilter": jql}]
        results = await self._api.register_webhooks(
            token, site.cloud_id, self._delivery_url(site), entries
        )
        created = [r.webhook_id for r in results if r.webhook_id is not None]
        report.errors = [error for r in results for error in r.errors]
        await self._store.record_webhook_errors(site.cloud_id, report.errors, now=self._clock())
        for error in report.errors:
            logger.warning(
                "oauth site %s: Jira refused a webhook registration: %s", site.url, error
            )
        if not created:
            return
        expiries = {
            int(hook["id"]): parse_expiration(hook.get("expirationDate"))
            for hook in await self._api.list_webhooks(token, site.cloud_id)
        }
        await self._store.save_webhooks(
            site.cloud_id,
            [SiteWebhook(i, self._events, jql, expiries.get(i)) for i in created],
            now=self._clock(),
        )
        report.registered = created

    async def remove_all(self, site: Site) -> list[int]:
        """Delete the site's webhooks in Jira (for a disconnect); returns the ids deleted."""
        ids = [hook.webhook_id for hook in await self._store.webhooks(site.cloud_id)]
        if ids:
            token = await self._tokens.access_token(site.cloud_id)
            await self._api.delete_webhooks(token, site.cloud_id, ids)
            await self._store.drop_webhooks(site.cloud_id, ids)
        return ids
