"""The end of a consent: the code exchanged, the sites the grant covers, one of them connected.

One consent connects one site. A grant that covers several sites carries one refresh token for all
of them, and Atlassian rotates it on every refresh; stored under two sites, the first refresh
would spend the other's. So the admin picks one, and connects another with another consent (each
consent has a token family of its own).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from addon.sites._api import AtlassianApi
from addon.sites._consent import callback_url
from addon.sites._errors import AtlassianError
from addon.sites._records import Resource, Site, TokenGrant
from addon.sites._store import SiteStore

__all__ = [
    "CHOICE_SECONDS",
    "Consent",
    "choose_site",
    "complete_consent",
    "connect_site",
    "hold_for_choice",
    "resume_choice",
]

CHOICE_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Consent:
    grant: TokenGrant
    resources: tuple[Resource, ...]

    @property
    def single(self) -> Resource | None:
        """The one site to connect at once, when the grant covers exactly one."""
        return self.resources[0] if len(self.resources) == 1 else None


async def complete_consent(api: AtlassianApi, *, code: str, base_url: str) -> Consent:
    grant = await api.exchange_code(code, callback_url(base_url))
    resources = tuple(await api.accessible_resources(grant.access_token))
    if not resources:
        raise AtlassianError("the consent covers no Jira site")
    return Consent(grant, resources)


def choose_site(resources: Sequence[Resource], chosen: str) -> Resource:
    """The resource whose cloudId or URL the admin chose; `LookupError` if the grant lacks it."""
    for resource in resources:
        if chosen in (resource.cloud_id, resource.url):
            return resource
    raise LookupError(f"{chosen!r} is not one of the sites this consent covers")


async def connect_site(
    store: SiteStore,
    consent: Consent,
    resource: Resource,
    *,
    now: float,
    projects: tuple[str, ...] | None = None,
) -> Site:
    """Store the consent for `resource` (a site connected again is updated, not added)."""
    return await store.connect(resource, consent.grant, now=now, projects=projects)


async def hold_for_choice(store: SiteStore, consent: Consent, *, now: float) -> str:
    """Keep a consent covering several sites for the page where the admin picks one; the handle
    returned goes to the admin's browser only (a cookie, like the state)."""
    handle = secrets.token_urlsafe(32)
    await store.hold_consent(
        handle, consent.grant, consent.resources, now=now, seconds=CHOICE_SECONDS
    )
    return handle


async def resume_choice(store: SiteStore, handle: str, *, now: float) -> Consent:
    """The consent held under `handle`, once."""
    grant, resources = await store.take_consent(handle, now=now)
    return Consent(grant, resources)
