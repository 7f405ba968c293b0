"""The four lifecycle callbacks (installed, uninstalled, enabled, disabled) as plain functions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import descriptor
from addon.auth import (
    InstallKeyFetcher,
    TokenReplayed,
    TokenSuperseded,
    VerifiedToken,
    extract_token,
    verify_install,
    verify_symmetric,
)
from addon.connect._tenancy import TenantCache
from addon.delivery import bounded_index_value
from addon.errors import BadRequest, Unauthorized
from addon.incoming import Incoming, parse_json_object
from addon.store import Store, Superseded, TenantState, is_storable_text

__all__ = ["Lifecycle"]

logger = logging.getLogger("addon.lifecycle")

INSTALL_REQUIRED = ("key", "clientKey", "sharedSecret", "baseUrl")
UNINSTALL_REQUIRED = ("key", "clientKey")


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Lifecycle handling for one add-on: its key and base URL, the store, the install keys."""

    addon_key: str
    base_url: str
    leeway: int
    store: Store
    tenants: TenantCache
    keys: InstallKeyFetcher

    def _payload(self, request: Incoming, required: tuple[str, ...]) -> dict[str, Any]:
        payload = parse_json_object(request.body, what="lifecycle payload")
        missing = [
            name for name in required if not isinstance(payload.get(name), str) or not payload[name]
        ]
        if missing:
            raise BadRequest(
                f"the lifecycle payload lacks {', '.join(missing)}", code="invalid_payload"
            )
        unstorable = [name for name in required if not is_storable_text(payload[name])]
        if unstorable:
            raise BadRequest(
                f"the lifecycle payload's {', '.join(unstorable)} holds a NUL or a lone surrogate",
                code="invalid_payload",
            )
        bounded_index_value(payload["clientKey"], "clientKey")
        if payload["key"] != self.addon_key:
            raise BadRequest(
                f"the payload is for add-on {payload['key']!r}, but this is {self.addon_key!r}",
                code="wrong_addon",
            )
        return payload

    async def _verify_install(self, request: Incoming, client_key: str) -> VerifiedToken:
        token = extract_token(request.authorization, request.query_jwt)
        verified = await verify_install(
            token,
            method=request.method,
            url=request.target,
            base_url=self.base_url,
            addon_base_url=self.base_url,
            client_key=client_key,
            key_for=self.keys.get,
            leeway=self.leeway,
        )
        await self._admit(token, request, verified)
        return verified

    async def _admit(self, token: str, request: Incoming, verified: VerifiedToken) -> None:
        """Refuse a token seen before with another body: the signature does not cover the body."""
        admitted = await self.store.lifecycle_tokens.admit(
            token, request.body, expires_at=verified.expires_at + self.leeway
        )
        if not admitted:
            raise TokenReplayed(
                "this lifecycle token was already used with another body;"
                " Jira signs each callback anew"
            )

    async def installed(self, request: Incoming) -> None:
        """Create the tenant, or replace its secret: only with a token Atlassian signed (RS256),
        never seen with another body, signed after the tenant's last lifecycle change."""
        extract_token(request.authorization, request.query_jwt)
        payload = self._payload(request, INSTALL_REQUIRED)
        if payload.get("installationId") is not None:
            payload["installationId"] = _installation_id(payload["installationId"])
        verified = await self._verify_install(request, payload["clientKey"])
        try:
            tenant = await self.store.tenants.save_installation(payload, iat=verified.issued_at)
        except Superseded:
            raise _superseded("installed", verified) from None
        self.tenants.invalidate(tenant.client_key)
        logger.info(
            "installed: tenant %s (%s) through %s%s",
            tenant.client_key,
            tenant.base_url,
            tenant.installed_through,
            f" {tenant.installation_id}" if tenant.installation_id else "",
        )

    async def uninstalled(self, request: Incoming) -> None:
        """Mark the tenant uninstalled and erase its secret; idempotent."""
        extract_token(request.authorization, request.query_jwt)
        payload = self._payload(request, UNINSTALL_REQUIRED)
        verified = await self._verify_install(request, payload["clientKey"])
        try:
            known = await self.store.tenants.mark_uninstalled(
                payload["clientKey"], iat=verified.issued_at
            )
        except Superseded:
            raise _superseded("uninstalled", verified) from None
        self.tenants.invalidate(payload["clientKey"])
        logger.info("uninstalled: tenant %s%s", payload["clientKey"], "" if known else " (unknown)")

    async def enabled(self, request: Incoming) -> None:
        await self._set_state(request, TenantState.ENABLED)

    async def disabled(self, request: Incoming) -> None:
        await self._set_state(request, TenantState.DISABLED)

    async def _set_state(self, request: Incoming, state: TenantState) -> None:
        """enabled/disabled: HS256 with the tenant's secret, ordered by the token's `iat`.

        A `disabled` for a tenant that is uninstalled (or unknown) changes nothing and is answered
        204 with or without a token: Jira sends it after `uninstalled`, sometimes unsigned.
        """
        client_key = _claimed_client_key(request.body)
        if state is TenantState.DISABLED and client_key is not None:
            tenant = await self.tenants.get(client_key)
            if tenant is None or tenant.state is TenantState.UNINSTALLED:
                logger.info("disabled for uninstalled or unknown tenant %s: ignored", client_key)
                return
        token = extract_token(request.authorization, request.query_jwt)
        verified = await verify_symmetric(
            token,
            method=request.method,
            url=request.target,
            base_url=self.base_url,
            secret_for=self.tenants.secret_for,
            leeway=self.leeway,
        )
        issuer = verified.client_key
        if client_key is not None and client_key != issuer:
            raise Unauthorized(
                f"the token was issued by {issuer}, but the payload names {client_key}",
                code="issuer_mismatch",
            )
        await self._admit(token, request, verified)
        changed = await self.store.tenants.set_state(issuer, state, iat=verified.issued_at)
        self.tenants.invalidate(issuer)
        logger.info("%s: tenant %s%s", state.value, issuer, "" if changed else " (older; ignored)")


def _installation_id(value: object) -> str:
    """A Connect-on-Forge install's `installationId`, as its ARI; 400 if it is not one."""
    try:
        return descriptor.forge_installation_id(value if isinstance(value, str) else "")
    except ValueError:
        raise BadRequest(
            f"installationId must be {descriptor.INSTALLATION_ARI_PREFIX}<uuid>",
            code="invalid_payload",
        ) from None


def _superseded(event: str, verified: VerifiedToken) -> TokenSuperseded:
    return TokenSuperseded(
        f"this {event} token was signed (iat {verified.issued_at}) before the tenant's last"
        " lifecycle change, or in the same second as its uninstall"
    )


def _claimed_client_key(body: bytes) -> str | None:
    try:
        payload = parse_json_object(body)
    except BadRequest:
        return None
    value = payload.get("clientKey")
    return value if isinstance(value, str) and value else None
