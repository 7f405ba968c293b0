"""The Forge door: Forge Remote calls verified by their invocation token, into the one pipeline.

`POST /forge/events` carries triggers and the app's lifecycle events: each is a delivery, its
identifier derived from the body (`_events`), so that a retry is a duplicate. `POST /forge/tick`
(the hourly scheduled trigger) and `POST /forge/uninstall` (`preUninstall`) only update the
installation. A call carrying `x-forge-oauth-system` brings the app's system token, kept
encrypted for calls to the installation's `app.apiBaseUrl`.
"""

from __future__ import annotations

import dataclasses
import json
import math
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
from addon.doors import JiraClientFactory, Job, Runtime, SiteFacts
from addon.errors import Refusal
from addon.forge._call import ForgeCall, verify_call
from addon.forge._calling import ForgeCalling
from addon.forge._facts import forge_site_facts
from addon.forge._installations import ForgeInstallation, ForgeInstallations
from addon.forge._system_token import SYSTEM_TOKEN_HEADER
from addon.forge._verify import bearer_token
from addon.incoming import Incoming, incoming
from addon.settings import Settings
from addon.store import MAX_INDEXED_BYTES, Store, webhook_token_key

__all__ = ["KIND", "ForgeDoor"]

KIND = "forge"
EVENTS_PATH = descriptor.FORGE_ROUTES["events"]
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
        self._keys: JwksCache | None = None
        self._installations: ForgeInstallations | None = None
        self._store: Store | None = None
        self._known: dict[str, ForgeInstallation] = {}
        self._calling: ForgeCalling | None = None

    @property
    def keys(self) -> JwksCache:
        if self._keys is None:
            raise RuntimeError("the Forge door is not started")
        return self._keys

    @property
    def calling(self) -> ForgeCalling:
        if self._calling is None:
            raise RuntimeError("the Forge door is not started")
        return self._calling

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
        self._keys = JwksCache(self.settings.forge_jwks_url, client=runtime.http)
        self._installations = ForgeInstallations(runtime.store.db, runtime.store.box)
        others = [door for door in runtime.doors if door is not self]  # never its own guess
        self._calling = ForgeCalling(
            self._installations, runtime.store, others, lambda: self.transport
        )

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
            origin=Origin(
                KIND,
                installation.installation_id,
                installation.site_url.rstrip("/") if installation.site_url else None,
            ),
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
        calling = self.calling
        return forge_site_facts([await calling.linked(i) for i in await self.installations.all()])

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        if origin.kind != KIND or not origin.key:
            return None
        return await self.calling.origin_client(origin.key)

    async def site_client(self, site_url: str) -> JiraClientFactory | None:
        return await self.calling.site_client(site_url)

    async def client_for(self, installation_id: str) -> JiraClientFactory:
        """A client factory for one installation, for code outside a handler; `NoSystemToken`
        (at once) when it has no unexpired system token."""
        return await self.calling.client_for(installation_id)

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
                url = await self.calling.site_url(invocation.installation_id, site.cloud_id)
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
