"""One Forge Remote call verified from plain request values: the value the door hands on.

The routes (from the manifest, `descriptor.FORGE_ROUTES`): `events` carries triggers and the app's
lifecycle events, `tick` the hourly scheduled trigger, `uninstall` the `preUninstall` call. Only
`events` carries a delivery; the other two update the installation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import descriptor
from addon.auth import JwksCache
from addon.forge._events import ForgeEvent, read_event
from addon.forge._installations import SiteDetails
from addon.forge._system_token import SystemToken, read_system_token
from addon.forge._verify import Invocation, bearer_token, verify_invocation

__all__ = ["ROUTES", "ForgeCall", "verify_call"]

ROUTES = tuple(descriptor.FORGE_ROUTES)
_EVIDENCE_CLAIMS = ("iss", "aud", "iat", "nbf", "exp", "jti", "app", "context", "principal")


@dataclass(frozen=True, slots=True)
class ForgeCall:
    """A verified call: who called (the invocation), what it brought, and the system token."""

    route: str
    invocation: Invocation
    event: ForgeEvent | None
    system_token: SystemToken | None

    @property
    def lifecycle(self) -> bool:
        """An `avi:forge:installed:app` or `avi:forge:upgraded:app`: it (re)installs."""
        return self.event is not None and self.event.name in descriptor.LIFECYCLE_EVENTS

    @property
    def site(self) -> SiteDetails:
        invocation = self.invocation
        return SiteDetails(
            installation_id=invocation.installation_id,
            api_base_url=invocation.api_base_url,
            cloud_id=invocation.cloud_id,
            site_url=invocation.site_url,
            app_version=invocation.app_version,
            environment=invocation.environment_type,
        )

    def evidence(self) -> dict[str, Any]:
        """What the inspector shows of the verification: the FIT's decoded claims and the `kid`,
        never the token itself nor the system token (only whether one came, and its expiry)."""
        claims = self.invocation.claims
        return {
            "scheme": "forge-invocation-token",
            "kid": self.invocation.kid,
            "claims": {name: claims[name] for name in _EVIDENCE_CLAIMS if name in claims},
            "system_token": (
                None if self.system_token is None else {"expires_at": self.system_token.expires_at}
            ),
        }


async def verify_call(
    route: str,
    *,
    authorization: str | None,
    system_token_header: str | None,
    body: bytes,
    app_id: str,
    keys: JwksCache,
    leeway: int,
    now: float | None = None,
) -> ForgeCall:
    """Verify the token first, then read the body (events only) and the system token.

    Raises the refusal naming what is wrong; nothing of the body is trusted before the token is.
    """
    if route not in ROUTES:
        raise ValueError(f"unknown Forge route {route!r}; expected one of {', '.join(ROUTES)}")
    moment = time.time() if now is None else now
    invocation = await verify_invocation(
        bearer_token(authorization), app_id=app_id, keys=keys, leeway=leeway, now=moment
    )
    event = read_event(body) if route == "events" else None
    return ForgeCall(
        route=route,
        invocation=invocation,
        event=event,
        system_token=read_system_token(system_token_header, now=moment),
    )
