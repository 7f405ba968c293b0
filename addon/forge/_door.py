"""The Forge door: Forge Remote calls verified by their invocation token, into the one pipeline.

`POST /forge/events` carries triggers and the app's lifecycle events: each is a delivery, its
identifier derived from the body (`_events`), so that a retry is a duplicate. `POST /forge/tick`
(the hourly scheduled trigger) and `POST /forge/uninstall` (`preUninstall`) only update the
installation. A call carrying `x-forge-oauth-system` brings the app's system token, kept
encrypted for calls to the installation's `app.apiBaseUrl`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import descriptor
from addon.auth import JwksCache
from addon.delivery import (
    Delivery,
    Evidence,
    Origin,
    Rejection,
    WebhookHeaders,
    bounded_index_value,
)
from addon.doors import JiraClientFactory, Job, ListsSites, Runtime, SiteFacts
from addon.errors import Refusal
from addon.forge._call import ForgeCall, verify_call
from addon.forge._client import NoSystemToken, forge_client
from addon.forge._facts import forge_site_facts
from addon.forge._installations import ForgeInstallation, ForgeInstallations, SiteDetails
from addon.forge._system_token import SYSTEM_TOKEN_HEADER
from addon.forge._verify import bearer_token
from addon.handlers import NoJiraClient
from addon.incoming import Incoming, incoming
from addon.reach import site_name
from addon.settings import Settings
from addon.store import MAX_INDEXED_BYTES, Store, webhook_token_key

__all__ = ["KIND", "ForgeDoor"]

KIND = "forge"
EVENTS_PATH = descriptor.FORGE_ROUTES["events"]
LEARN_AGAIN = 300.0
"""Seconds before asking Jira again for the site URL of an installation that did not say it."""
HIDDEN = (SYSTEM_TOKEN_HEADER, "x-forge-oauth-user")
"""Headers never stored: the app's system token and a user's token."""


class ForgeDoor:
    """Forge Remote: invocation tokens checked against Atlassian's key set, installations and
    their system tokens, and a client calling each installation's API as the app.

    `transport` is the one Jira clients use (None: the network); tests point it at a fake API.
    """

    kind = KIND
    challenge: str | None = 'Bearer realm="forge"'
    connect_path: str | None = None

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if settings.forge_app_id is None:
            raise ValueError("the Forge door needs FORGE_APP_ID")
        self.settings = settings
        self.app_id = settings.forge_app_id
        self.transport = transport
        self._store: Store | None = None
        self._keys: JwksCache | None = None
        self._installations: ForgeInstallations | None = None
        self._known: dict[str, ForgeInstallation] = {}
        self._asked: dict[str, float] = {}
        self._doors: Sequence[object] = ()

    @property
    def keys(self) -> JwksCache:
        if self._keys is None:
            raise RuntimeError("the Forge door is not started")
        return self._keys

    @property
    def installations(self) -> ForgeInstallations:
        if self._installations is None:
            raise RuntimeError("the Forge door is not started")
        return self._installations

    def routes(self) -> Sequence[BaseRoute]:
        return (
            Route(descriptor.FORGE_ROUTES["tick"], self._tick, methods=["POST"], name="forge-tick"),
            Route(
                descriptor.FORGE_ROUTES["uninstall"],
                self._uninstall,
                methods=["POST"],
                name="forge-uninstall",
            ),
        )

    def example_paths(self) -> Sequence[str]:
        return (EVENTS_PATH,)

    def match(self, path: str, query: str) -> str | None:
        return "events" if path == EVENTS_PATH else None

    def jobs(self) -> Sequence[Job]:
        return ()

    async def start(self, runtime: Runtime) -> None:
        self._store = runtime.store
        self._doors = runtime.doors
        self._keys = JwksCache(self.settings.forge_jwks_url, client=runtime.http)
        self._installations = ForgeInstallations(runtime.store.db, runtime.store.box)

    async def verify(self, request: Incoming, match: str) -> Delivery | Rejection:
        try:
            call = await self._verify(request, match)
        except Refusal as refusal:
            if refusal.status >= 500:
                raise
            return _rejection(request, refusal)
        event = call.event
        assert event is not None
        installation = await self._record(call, now=request.received_at)
        if event.enveloped:  # handlers and the log get the event itself, whatever its envelope
            body = json.dumps(event.event, ensure_ascii=False, separators=(",", ":")).encode()
            request = dataclasses.replace(request, body=body)
        return Delivery(
            origin=Origin(KIND, installation.installation_id, _site(installation)),
            event=event.name,
            payload=event.event,
            request=request,
            headers=WebhookHeaders(webhook_id=event.delivery_id, retry=event.retry),
            ignored=(
                f"Forge installation {installation.installation_id} is uninstalled (preUninstall"
                " was called); an avi:forge:installed:app installs it again"
                if installation.uninstalled
                else None
            ),
            evidence=_evidence(call, request.authorization),
            hidden_headers=HIDDEN,
        )

    async def site_facts(self) -> Sequence[SiteFacts]:
        """Its installations as sites (`ListsSites`), each under its site's URL once linked."""
        return forge_site_facts([await self._linked(i) for i in await self.installations.all()])

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        if origin.kind != KIND or not origin.key:
            return None
        installation = await self.installations.get(origin.key)
        if installation is None:
            return None
        installation = await self._linked(installation)
        if installation.site_url is None and not installation.uninstalled:
            installation = await self._learn_site(installation)
        return await self._factory(installation)

    async def site_client(self, site_url: str) -> JiraClientFactory | None:
        if self._installations is None:
            return None
        for installation in await self._installations.all():
            if installation.uninstalled:
                continue
            installation = await self._linked(installation)
            if installation.site_url is None:
                installation = await self._learn_site(installation)
            site = _site(installation)
            if site is not None and site_name(site) == site_url:
                return await self._factory(installation)
        return None

    async def _learn_site(self, installation: ForgeInstallation) -> ForgeInstallation:
        """The installation with its site's URL, which an event's token does not carry (a
        backend invocation has no `context.siteUrl`): Jira's `serverInfo.baseUrl`, asked with
        the system token and kept; asked again at most every `LEARN_AGAIN` seconds."""
        now = time.time()
        if now - self._asked.get(installation.installation_id, -LEARN_AGAIN) < LEARN_AGAIN:
            return installation
        self._asked[installation.installation_id] = now
        factory = await self._factory(installation)
        try:
            async with factory() as client:
                answer = await client.get("/rest/api/3/serverInfo")
            url = answer.json().get("baseUrl") if answer.status_code == 200 else None
            site = site_name(url) if isinstance(url, str) and url.startswith("https://") else None
        except (NoJiraClient, httpx.HTTPError, ValueError, AttributeError):
            return installation
        if site is None:
            return installation
        details = SiteDetails(
            installation.installation_id,
            installation.api_base_url,
            installation.cloud_id,
            site,
        )
        return await self.installations.seen(details, now=now)

    async def client_for(self, installation_id: str) -> JiraClientFactory:
        """A client factory for one installation, for code outside a handler; `NoSystemToken`
        (at once) when it has no unexpired system token."""
        installation = await self.installations.get(installation_id)
        if installation is None:
            raise NoSystemToken(f"no Forge installation {installation_id!r} is known here")
        token = await self.installations.system_token(installation_id)
        if token is None:
            _no_token(installation)  # now, not at the first call
        return self._factory_with(await self._linked(installation), token)

    async def _factory(self, installation: ForgeInstallation) -> JiraClientFactory:
        token = await self.installations.system_token(installation.installation_id)
        return self._factory_with(await self._linked(installation), token)

    async def _linked(self, installation: ForgeInstallation) -> ForgeInstallation:
        """The installation with its site's URL, which a trigger's token does not name: the
        Connect tenant's with its installation id, else that of the site another door knows with
        its cloudId (an OAuth site)."""
        if installation.site_url is not None:
            return installation
        url = await self._site_url(installation.installation_id, installation.cloud_id)
        return installation if url is None else dataclasses.replace(installation, site_url=url)

    async def _site_url(self, installation_id: str, cloud_id: str | None) -> str | None:
        if self._store is not None:
            tenant = await self._store.tenants.for_installation(installation_id)
            if tenant is not None:
                return tenant.base_url
        others = [door for door in self._doors if door is not self]  # never its own guess
        return await _site_of_cloud(others, cloud_id) if cloud_id else None

    def _factory_with(
        self, installation: ForgeInstallation, token: str | None
    ) -> JiraClientFactory:
        site = _site(installation) or installation.api_base_url
        api = httpx.URL(installation.api_base_url)
        gateway = f"{api.scheme}://{api.netloc.decode('ascii')}"
        if token is None:
            return JiraClientFactory(
                site, functools.partial(_no_token, installation), gateway=gateway
            )
        return JiraClientFactory(
            site,
            functools.partial(
                forge_client, installation.api_base_url, token, transport=self.transport
            ),
            gateway=gateway,
        )

    async def _verify(self, request: Incoming, route: str) -> ForgeCall:
        call = await verify_call(
            route,
            authorization=request.authorization,
            system_token_header=request.header(SYSTEM_TOKEN_HEADER),
            body=request.body,
            app_id=self.app_id,
            keys=self.keys,
            leeway=self.settings.jwt_leeway_seconds,
            now=request.received_at,
        )
        bounded_index_value(call.invocation.installation_id, "the token's app.installationId")
        return call

    async def _record(
        self, call: ForgeCall, *, now: float, tick: bool = False
    ) -> ForgeInstallation:
        """Create or refresh the installation when something about it is new; keep a newer token."""
        invocation = call.invocation
        known = self._known.get(invocation.installation_id)
        if (
            known is None
            or call.lifecycle
            or tick
            or known.api_base_url != invocation.api_base_url
            or (invocation.app_version is not None and known.app_version != invocation.app_version)
        ):
            site = call.site
            if site.site_url is None:
                url = await self._site_url(invocation.installation_id, site.cloud_id)
                site = dataclasses.replace(site, site_url=url)
            known = await self.installations.seen(
                site, installed=call.lifecycle, tick=tick, now=now
            )
        token = call.system_token
        if (
            token is not None
            and not known.uninstalled
            and (
                known.system_token_expires_at is None
                or known.system_token_expires_at < token.expires_at
            )
        ):
            await self.installations.save_system_token(
                known.installation_id, token.value, token.expires_at
            )
            known = dataclasses.replace(known, system_token_expires_at=token.expires_at)
        self._known[known.installation_id] = known
        return known

    async def _route_call(self, request: Request, route: str) -> tuple[Incoming, ForgeCall]:
        services = request.app.state.services
        received = await incoming(request, self.settings.max_body_bytes)
        try:
            return received, await self._verify(received, route)
        except Refusal as refusal:
            if refusal.status >= 500:
                raise
            await services.ingest.record(_rejection(received, refusal))  # raises the refusal
            raise

    async def _tick(self, request: Request) -> Response:
        received, call = await self._route_call(request, "tick")
        await self._record(call, now=received.received_at, tick=True)
        return Response(status_code=204)

    async def _uninstall(self, request: Request) -> Response:
        received, call = await self._route_call(request, "uninstall")
        installation_id = call.invocation.installation_id
        await self.installations.mark_uninstalled(installation_id, now=received.received_at)
        self._known.pop(installation_id, None)
        return Response(status_code=204)


async def _site_of_cloud(doors: Sequence[object], cloud_id: str) -> str | None:
    """The URL of the site whose cloudId is `cloud_id`, as a door that lists sites knows it."""
    for door in doors:
        if isinstance(door, ListsSites):
            for facts in await door.site_facts():
                if facts.cloud_id == cloud_id:
                    with contextlib.suppress(ValueError):
                        return site_name(facts.site_url)
    return None


def _no_token(installation: ForgeInstallation) -> httpx.AsyncClient:
    state = "is uninstalled" if installation.uninstalled else "has no unexpired system token"
    raise NoSystemToken(
        f"Forge installation {installation.installation_id} {state}: Forge brings a fresh one"
        " with each call of the hourly scheduled trigger (POST /forge/tick); check that the"
        " manifest's scheduledTrigger is deployed and that calls to it arrive"
    )


def _site(installation: ForgeInstallation) -> str | None:
    return installation.site_url.rstrip("/") if installation.site_url else None


def _evidence(call: ForgeCall, authorization: str | None) -> Evidence:
    """The decoded token and the check, and the token's digest: a FIT's signature does not cover
    the body, and Forge signs a new one for each call, so the log marks a token seen again on
    another body as reused (never the token itself is kept)."""
    evidence = call.evidence()
    digest = webhook_token_key(bearer_token(authorization), math.floor(call.invocation.expires_at))
    return Evidence(
        token_digest=digest,
        token={
            "header": {"alg": "RS256", "kid": call.invocation.kid},
            "claims": evidence["claims"],
        },
        verification={
            **evidence,
            "matched": True,
            "envelope": "payload" if call.event is not None and call.event.enveloped else "top",
        },
    )


def _rejection(request: Incoming, refusal: Refusal) -> Rejection:
    """A refused call as the rejection log keeps it: what the token and body claimed, unverified,
    never the token itself nor the system token."""
    claims = _unverified_claims(request.authorization)
    app = claims.get("app") if claims is not None else None
    installation_id = app.get("installationId") if isinstance(app, Mapping) else None
    token: dict[str, Any] | None = None
    if claims is not None:
        token = {"claims": claims, "verified": False}
    return Rejection(
        refusal=refusal,
        origin_kind=KIND,
        request=request,
        origin=_shown(installation_id),
        event=_shown(_unverified_event(request.body)),
        evidence=Evidence(token=token),
        hidden_headers=HIDDEN,
    )


def _unverified_claims(authorization: str | None) -> dict[str, Any] | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 16 * 1024:
        return None
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def _unverified_event(body: bytes) -> object:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    inner = document.get("payload")
    if "eventType" not in document and isinstance(inner, dict):
        return inner.get("eventType")
    return document.get("eventType")


def _shown(value: object) -> str | None:
    """An unverified value the log may index: printable, cut to what an index holds."""
    if not isinstance(value, str) or not value or not value.isprintable():
        return None
    return value.encode()[:MAX_INDEXED_BYTES].decode(errors="ignore") or None
