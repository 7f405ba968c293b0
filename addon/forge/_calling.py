"""Calling each Forge installation's Jira as the app: its client factory, with its site's URL
linked (from the Connect tenant of its installation id, or another door's site of its cloudId) or
learnt from Jira, since a trigger's token names only the cloudId."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Sequence

import httpx

from addon.doors import JiraClientFactory, ListsSites
from addon.forge._client import NoSystemToken, forge_client
from addon.forge._installations import ForgeInstallation, ForgeInstallations, SiteDetails
from addon.handlers import NoJiraClient
from addon.reach import site_name
from addon.store import Store

__all__ = ["LEARN_AGAIN", "ForgeCalling"]

LEARN_AGAIN = 300.0
"""Seconds before asking Jira again for the site URL of an installation that did not say it."""


class ForgeCalling:
    """Client factories for Forge installations, by installation id or by site URL.

    `doors` are the other doors (asked for a site's URL by cloudId); `transport` gives the one
    Jira clients use at the time of the call (None: the network).
    """

    def __init__(
        self,
        installations: ForgeInstallations,
        store: Store,
        doors: Sequence[object],
        transport: Callable[[], httpx.AsyncBaseTransport | None] = lambda: None,
    ) -> None:
        self.installations = installations
        self._store = store
        self._doors = doors
        self._transport = transport
        self._asked: dict[str, float] = {}

    async def origin_client(self, installation_id: str) -> JiraClientFactory | None:
        """The factory for a delivery's installation; None when it is unknown."""
        installation = await self.installations.get(installation_id)
        if installation is None:
            return None
        installation = await self.linked(installation)
        if installation.site_url is None and not installation.uninstalled:
            installation = await self._learn_site(installation)
        return await self._factory(installation)

    async def site_client(self, site_url: str) -> JiraClientFactory | None:
        for installation in await self.installations.all():
            if installation.uninstalled:
                continue
            installation = await self.linked(installation)
            if installation.site_url is None:
                installation = await self._learn_site(installation)
            site = _site(installation)
            if site is not None and site_name(site) == site_url:
                return await self._factory(installation)
        return None

    async def client_for(self, installation_id: str) -> JiraClientFactory:
        """`NoSystemToken` at once when the installation has no unexpired system token."""
        installation = await self.installations.get(installation_id)
        if installation is None:
            raise NoSystemToken(f"no Forge installation {installation_id!r} is known here")
        token = await self.installations.system_token(installation_id)
        if token is None:
            _no_token(installation)  # now, not at the first call
        return self._factory_with(await self.linked(installation), token)

    async def linked(self, installation: ForgeInstallation) -> ForgeInstallation:
        """The installation with its site's URL, which a trigger's token does not name: the
        Connect tenant's with its installation id, else that of the site another door knows with
        its cloudId (an OAuth site)."""
        if installation.site_url is not None:
            return installation
        url = await self.site_url(installation.installation_id, installation.cloud_id)
        return installation if url is None else dataclasses.replace(installation, site_url=url)

    async def site_url(self, installation_id: str, cloud_id: str | None) -> str | None:
        tenant = await self._store.tenants.for_installation(installation_id)
        if tenant is not None:
            return tenant.base_url
        return await _site_of_cloud(self._doors, cloud_id) if cloud_id else None

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
            installation.installation_id, installation.api_base_url, installation.cloud_id, site
        )
        return await self.installations.seen(details, now=now)

    async def _factory(self, installation: ForgeInstallation) -> JiraClientFactory:
        token = await self.installations.system_token(installation.installation_id)
        return self._factory_with(await self.linked(installation), token)

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
                forge_client, installation.api_base_url, token, transport=self._transport()
            ),
            gateway=gateway,
        )


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
