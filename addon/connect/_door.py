"""The Connect door: webhooks at the descriptor's URLs, signed with the tenant's shared secret."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute

import descriptor
from addon.auth import (
    InstallKeyFetcher,
    VerifiedToken,
    canonical_request,
    decode_unverified,
    extract_token,
    query_string_hash,
    verify_symmetric,
)
from addon.connect._client import client_for_tenant
from addon.connect._descriptor import RenderedDescriptor
from addon.connect._lifecycle import Lifecycle
from addon.connect._routes import lifecycle_routes
from addon.connect._tenancy import TenantCache
from addon.delivery import (
    Delivery,
    Evidence,
    Origin,
    Rejection,
    webhook_headers,
    webhook_identifier,
)
from addon.doors import JiraClientFactory, Job, Runtime
from addon.errors import Refusal
from addon.incoming import Incoming, parse_json_object
from addon.settings import Settings
from addon.store import Store, TenantState, webhook_token_key

__all__ = ["KIND", "ConnectDoor", "WebhookMatch", "parse_payload"]

KIND = "connect"


@dataclass(frozen=True, slots=True)
class WebhookMatch:
    """The descriptor's webhook module a path matched, and the context its URL carried."""

    module: descriptor.WebhookModule
    context: Mapping[str, str]


def parse_payload(body: bytes, *, exclude_body: bool) -> Any:
    """The webhook body as JSON (None for an `excludeBody` webhook); BadRequest if it is not JSON."""
    if exclude_body and not body.strip():
        return None
    return parse_json_object(body, what="webhook body")


class ConnectDoor:
    """Connect: the descriptor's webhook URL templates, JWTs with `qsh`, the lifecycle callbacks,
    and a client that signs calls back to each installed tenant."""

    kind = KIND

    def __init__(self, settings: Settings, rendered: RenderedDescriptor) -> None:
        self.settings = settings
        self.rendered = rendered
        self.webhooks = rendered.webhooks
        self.challenge: str | None = f'JWT realm="{settings.key}"'
        self._by_literal_path: dict[str, tuple[descriptor.WebhookModule, ...]] = {}
        for module in self.webhooks:
            if "${" not in module.template.path:
                path = module.template.path
                self._by_literal_path[path] = (*self._by_literal_path.get(path, ()), module)
        self._store: Store | None = None
        self._tenants: TenantCache | None = None
        self._lifecycle: Lifecycle | None = None

    @property
    def tenants(self) -> TenantCache:
        if self._tenants is None:
            raise RuntimeError("the Connect door is not started")
        return self._tenants

    @property
    def lifecycle(self) -> Lifecycle:
        if self._lifecycle is None:
            raise RuntimeError("the Connect door is not started")
        return self._lifecycle

    def routes(self) -> Sequence[BaseRoute]:
        return lifecycle_routes(self, self.rendered.lifecycle)

    def example_paths(self) -> Sequence[str]:
        paths = []
        for module in self.webhooks:
            template = module.template
            expanded = template.expand(dict.fromkeys(template.parameters, "example"))
            paths.append(expanded.partition("?")[0])
        return paths

    async def start(self, runtime: Runtime) -> None:
        settings = self.settings
        self._store = runtime.store
        self._tenants = TenantCache(runtime.store, ttl=settings.tenant_cache_seconds)
        self._lifecycle = Lifecycle(
            addon_key=settings.key,
            base_url=settings.base_url,
            leeway=settings.jwt_leeway_seconds,
            store=runtime.store,
            tenants=self._tenants,
            keys=InstallKeyFetcher(base_url=settings.install_keys_url, client=runtime.http),
        )

    def jobs(self) -> Sequence[Job]:
        return ()

    def match(self, path: str, query: str) -> WebhookMatch | None:
        """The webhook module whose URL template matches, with the context parameters extracted."""
        # A request naming a template's literal path as written is tried against that template
        # first (one dict lookup instead of matching every template in turn). The answer is the
        # same: the descriptor check refuses templates that one request could both match.
        for module in self._by_literal_path.get(path, ()):
            context = module.template.match(path, query)
            if context is not None:
                return WebhookMatch(module, context)
        for module in self.webhooks:
            context = module.template.match(path, query)
            if context is not None:
                return WebhookMatch(module, context)
        return None

    async def verify(self, request: Incoming, match: WebhookMatch) -> Delivery | Rejection:
        token: str | None = None
        try:
            token = extract_token(request.authorization, request.query_jwt)
            verified = await verify_symmetric(
                token,
                method=request.method,
                url=request.target,
                base_url=self.settings.base_url,
                secret_for=self.tenants.secret_for,
                leeway=self.settings.jwt_leeway_seconds,
            )
            payload = parse_payload(request.body, exclude_body=match.module.exclude_body)
            webhook_identifier(request)  # refused here, so that the refusal is recorded too
        except Refusal as refusal:
            if refusal.status >= 500:
                raise
            return self._rejection(request, refusal, match, token)
        client_key = str(verified.claims["iss"])
        tenant = await self.tenants.get(client_key)
        ignored = None
        if tenant is not None and tenant.state is TenantState.DISABLED:
            ignored = f"tenant {client_key} is disabled"
        return Delivery(
            origin=Origin(KIND, client_key, tenant.base_url if tenant is not None else None),
            event=match.module.event,
            payload=payload,
            request=request,
            headers=webhook_headers(request),
            context=match.context,
            ignored=ignored,
            evidence=_evidence(verified, token),
        )

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        if not origin.key:
            return None
        tenant = await self.tenants.get(origin.key)
        if tenant is None or tenant.shared_secret is None:
            return None
        return JiraClientFactory(
            tenant.base_url, functools.partial(client_for_tenant, tenant, self.settings.key)
        )

    async def site_client(self, site_url: str) -> JiraClientFactory | None:
        if self._store is None:
            return None
        for tenant in await self._store.tenants.all():
            if (
                tenant.active
                and tenant.shared_secret is not None
                and tenant.base_url.rstrip("/").lower() == site_url
            ):
                return JiraClientFactory(
                    tenant.base_url,
                    functools.partial(client_for_tenant, tenant, self.settings.key),
                )
        return None

    def _rejection(
        self, request: Incoming, refusal: Refusal, match: WebhookMatch, token: str | None
    ) -> Rejection:
        base_url = self.settings.base_url
        canonical = qsh = None
        try:
            canonical = canonical_request(request.method, request.target, base_url)
            qsh = query_string_hash(request.method, request.target, base_url)
        except Exception:
            canonical = qsh = None
        claims = _unverified(token)
        issuer = claims[1].get("iss") if claims else None
        return Rejection(
            refusal=refusal,
            origin_kind=KIND,
            request=request,
            origin=issuer[:256] if isinstance(issuer, str) else None,
            event=match.module.event,
            headers=webhook_headers(request),
            evidence=Evidence(
                token=(
                    None
                    if claims is None
                    else {"header": claims[0], "claims": claims[1], "verified": False}
                ),
                canonical_request=canonical,
                qsh=qsh,
            ),
        )


def _evidence(verified: VerifiedToken, token: str) -> Evidence:
    return Evidence(
        token={"header": dict(verified.header), "claims": dict(verified.claims)},
        canonical_request=verified.canonical_request,
        qsh=verified.qsh_expected,
        token_digest=webhook_token_key(token, verified.expires_at),
    )


def _unverified(token: str | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a token that was not verified, if it decodes at all."""
    if token is None:
        return None
    try:
        return decode_unverified(token)
    except Refusal:
        return None
