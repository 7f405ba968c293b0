"""The OAuth 2.0 door: deliveries of the dynamic webhooks this server registered for connected
sites, at `/oauth/sites/{cloudId}/webhook`, each signed with the app's client secret."""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

import jwt
from starlette.routing import BaseRoute

from addon.delivery import (
    Delivery,
    Evidence,
    Origin,
    Rejection,
    bounded_index_value,
    webhook_headers,
    webhook_identifier,
)
from addon.doors import JiraClientFactory, Job, Runtime, SiteFacts
from addon.errors import BadRequest, Refusal
from addon.incoming import Incoming, parse_json_object
from addon.settings import Settings
from addon.sites._client import site_jira_client
from addon.sites._errors import DeliveryRefused, UnknownSite
from addon.sites._facts import all_site_facts
from addon.sites._matched import match_registrations
from addon.sites._records import Site, SiteStatus
from addon.sites._verify import verify_delivery_token
from addon.sites._work import KIND, SiteWork, delivery_path
from addon.store import is_storable_text

__all__ = ["HEARTBEAT_SECONDS", "TOKENS_SECONDS", "UPKEEP_SECONDS", "SiteDoor"]

UPKEEP_SECONDS = 3600.0
TOKENS_SECONDS = 300.0
HEARTBEAT_SECONDS = 60.0
MAX_CLOUD_ID = 64

_PATH = re.compile(r"/oauth/sites/([^/]+)/webhook")
_HIDDEN = ("authorization",)


class SiteDoor:
    """Sites connected with OAuth 2.0 (3LO). `clock` is the time every decision is taken on (token
    expiry, webhook refresh, delivery token `exp`); tests set it."""

    kind = KIND
    challenge: str | None = 'Bearer realm="oauth-sites"'
    connect_path: str | None = "/inspector/sites/connect"

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        if not settings.atlassian_client_secret:
            raise ValueError("the OAuth door needs ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET")
        self.settings = settings
        self.clock = clock
        self._secret = settings.atlassian_client_secret
        self._work: SiteWork | None = None

    @property
    def work(self) -> SiteWork:
        if self._work is None:
            raise RuntimeError("the OAuth door is not started")
        return self._work

    def now(self) -> float:
        return self.clock()

    def routes(self) -> Sequence[BaseRoute]:
        from addon.sites._routes import site_routes

        return site_routes(self)

    def example_paths(self) -> Sequence[str]:
        return [delivery_path("example")]

    async def start(self, runtime: Runtime) -> None:
        self._work = SiteWork(self.settings, runtime.store, runtime.http, clock=self.now)
        await self._work.starting()

    def jobs(self) -> Sequence[Job]:
        return (
            Job("oauth-webhooks", UPKEEP_SECONDS, self._upkeep),
            Job("oauth-tokens", TOKENS_SECONDS, self._refresh),
            Job("oauth-heartbeat", HEARTBEAT_SECONDS, self._heartbeat),
        )

    async def _upkeep(self) -> None:
        await self.work.upkeep()

    async def _refresh(self) -> None:
        await self.work.refresh_tokens()

    async def _heartbeat(self) -> None:
        await self.work.heartbeat()

    def match(self, path: str, query: str) -> str | None:
        """The cloudId of `/oauth/sites/{cloudId}/webhook`."""
        found = _PATH.fullmatch(path)
        return unquote(found.group(1)) if found else None

    async def verify(self, request: Incoming, match: str) -> Delivery | Rejection:
        cloud_id = match
        headers = webhook_headers(request)
        shown = cloud_id[:MAX_CLOUD_ID] if is_storable_text(cloud_id) else None
        try:
            claims = verify_delivery_token(
                request.authorization,
                secret=self._secret,
                now=self.now(),
                leeway=self.settings.jwt_leeway_seconds,
            )
        except DeliveryRefused as refusal:
            return Rejection(
                refusal,
                KIND,
                request,
                origin=shown,
                headers=headers,
                evidence=Evidence(token=_unverified(request.authorization)),
                hidden_headers=_HIDDEN,
            )
        token = _token_record(request.authorization, claims)
        try:
            site = await self._site(cloud_id)
            payload = parse_json_object(request.body, what="webhook body")
            event = _event(payload)
            webhook_identifier(request)  # refused here, so that the refusal is recorded too
        except Refusal as refusal:
            if refusal.status >= 500:
                raise
            return Rejection(
                refusal,
                KIND,
                request,
                origin=shown,
                headers=headers,
                evidence=Evidence(token=token),
                hidden_headers=_HIDDEN,
            )
        registered = [hook.webhook_id for hook in await self.work.sites.webhooks(site.cloud_id)]
        matched = match_registrations(payload, registered)
        facts = {
            "Token": "Authorization: Bearer, HS256 with the app's client secret",
            "Claims carried": ", ".join(sorted(claims)) or "none",
            "Matched webhooks": ", ".join(str(i) for i in matched.matched) or "none",
        }
        verification: dict[str, Any] = {
            "scheme": "oauth-jwt",
            "matched": True,
            "claims": sorted(claims),
            "matched_webhook_ids": list(matched.matched),
            "shown": facts,
        }
        if matched.flagged:
            named = f" (it names {list(matched.unknown)})" if matched.unknown else ""
            flag = f"matchedWebhookIds names no registration of this site{named}"
            verification["flagged"] = facts["Flagged"] = flag
            verification["mark"] = "flagged"
        elif len(matched.matched) > 1 or len(registered) > 1:
            facts["Overlap"] = (
                "the site has more than one registration while a filter is replaced (new one"
                " first, then the old deleted): the same change may be delivered twice"
            )
            verification["mark"] = "overlap"
        ignored = None
        if site.status is SiteStatus.DISCONNECTED:
            ignored = f"{site.url} is disconnected"
        await self.work.sites.record_delivery(site.cloud_id, now=self.now())
        return Delivery(
            origin=Origin(KIND, site.cloud_id, site.url),
            event=event,
            payload=payload,
            request=request,
            headers=headers,
            ignored=ignored,
            evidence=Evidence(token=token, verification=verification),
            hidden_headers=_HIDDEN,
        )

    async def _site(self, cloud_id: str) -> Site:
        site = None
        if 0 < len(cloud_id) <= MAX_CLOUD_ID and is_storable_text(cloud_id):
            site = await self.work.sites.get(cloud_id)
        if site is None or site.cloud_id != cloud_id:
            raise UnknownSite(
                "no site with this cloudId is connected here (addon oauth list shows them);"
                " its webhooks should be deleted in Jira"
            )
        return site

    async def site_facts(self) -> Sequence[SiteFacts]:
        listed = []
        for f in await all_site_facts(self.work.sites, now=self.now()):
            hooks = ", ".join(f"{h['id']} until {h['expires_at'] or '?'}" for h in f["webhooks"])
            facts = [
                ("cloudId", f["cloud_id"]),
                ("Webhooks", hooks or "none registered"),
                ("Refresh token ends", f["refresh_token_ends_at"] or "no refresh token"),
                ("Last delivery", f["last_delivery_at"] or "none"),
                ("Connected", f["connected_at"] or "?"),
            ]
            warnings = [f["refresh_token_warning"], *f["webhook_errors"]]
            if f["status"] != SiteStatus.CONNECTED.value:
                warnings.insert(0, f["status_reason"] or f"the site is {f['status']}")
            listed.append(
                SiteFacts(
                    site_url=f["url"],
                    kind=KIND,
                    key=f["cloud_id"],
                    status=f["status"],
                    facts=facts,
                    warnings=[w for w in warnings if w],
                    cloud_id=f["cloud_id"],
                )
            )
        return listed

    def _factory(self, site: Site) -> JiraClientFactory:
        token = functools.partial(self.work.tokens.access_token, site.cloud_id)
        return JiraClientFactory(
            site.url,
            functools.partial(site_jira_client, self.work.gateway(site), token),
            gateway=self.settings.atlassian_api_url.rstrip("/"),
        )

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        if origin.kind != KIND or not origin.key:
            return None
        site = await self.work.sites.get(origin.key)
        if site is None or site.status is not SiteStatus.CONNECTED:
            return None
        return self._factory(site)

    async def site_client(self, site_url: str) -> JiraClientFactory | None:
        if self._work is None:
            return None
        site = await self.work.site_by_name(site_url)
        return None if site is None else self._factory(site)


def _event(payload: dict[str, Any]) -> str:
    value = payload.get("webhookEvent")
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("the body has no webhookEvent string", code="missing_event")
    return bounded_index_value(value.strip(), "webhookEvent")


def _token_record(authorization: str | None, claims: Any) -> dict[str, Any]:
    """The token as the inspector shows it: its header and the claims it carried."""
    header: dict[str, Any] = {}
    token = (authorization or "").partition(" ")[2].strip()
    with contextlib.suppress(jwt.InvalidTokenError):
        header = dict(jwt.get_unverified_header(token))
    return {"header": header, "claims": dict(claims)}


def _unverified(authorization: str | None) -> dict[str, Any] | None:
    token = (authorization or "").partition(" ")[2].strip()
    if not token:
        return None
    try:
        header = dict(jwt.get_unverified_header(token))
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return {"header": header, "claims": claims, "verified": False}
