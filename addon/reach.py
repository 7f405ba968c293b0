"""Reaching a Jira site by its URL, whatever door knows it.

A site is one thing across doors, named by its URL (`https://example.atlassian.net`). People and
sync call Jira for a site, not for a delivery: `Reach` asks each open door, in the app factory's
order, for a client of that site and takes the first one it gets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from urllib.parse import urlsplit

from addon.doors import AnyDoor, JiraClientFactory, ListsSites
from addon.handlers import NoJiraClient

__all__ = ["LEFT_STATUSES", "Reach", "SiteUnreachable", "site_name"]

LEFT_STATUSES = frozenset({"uninstalled", "disconnected"})
"""A door's `SiteFacts.status` for a site the app was explicitly removed from."""


class SiteUnreachable(LookupError):
    """No open door can call this site's Jira (not installed, not connected, no token)."""


def site_name(url: str) -> str:
    """The one name of a site: scheme and host of its URL, lower case, without path or slash.

    `https://Example.atlassian.net/` and `https://example.atlassian.net` name one site.
    """
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if not parts.hostname:
        raise ValueError(f"not a site URL: {url!r}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}{port}"


class Reach:
    """Jira clients by site, across the open doors."""

    def __init__(self, doors: Sequence[AnyDoor]) -> None:
        self._doors = tuple(doors)

    async def client_for(self, site: str) -> JiraClientFactory:
        """A client factory for `site`'s Jira REST API; `SiteUnreachable` when no door has one.

        A door that knows the site but cannot sign a call yet gives way to one that can."""
        name = site_name(site)
        waiting: JiraClientFactory | None = None
        for door in self._doors:
            factory = await door.site_client(name)
            if factory is None:
                continue
            try:
                await factory().aclose()
            except NoJiraClient:  # knows the site but cannot sign yet (a Forge system token)
                waiting = waiting or factory
                continue
            return factory
        if waiting is not None:
            return waiting  # its client says why it cannot call
        raise SiteUnreachable(
            f"no door can call {name}: install the app there, connect it with OAuth "
            "(/oauth/connect) or give its admin-webhook source an API token"
        )

    async def listed_sites(self) -> list[str]:
        """The names of the sites every door that lists its sites (`ListsSites`) knows, in any
        state: connected or installed, and also disconnected or uninstalled."""
        names: set[str] = set()
        for door in self._doors:
            if isinstance(door, ListsSites):
                for facts in await door.site_facts():
                    with contextlib.suppress(ValueError):
                        names.add(site_name(facts.site_url))
        return sorted(names)

    async def left_sites(self) -> list[str]:
        """The sites every door that lists them says the app was removed from (a Forge
        uninstall, an OAuth disconnect), as opposed to one a door cannot reach for a while."""
        statuses: dict[str, set[str]] = {}
        for door in self._doors:
            if isinstance(door, ListsSites):
                for facts in await door.site_facts():
                    with contextlib.suppress(ValueError):
                        statuses.setdefault(site_name(facts.site_url), set()).add(facts.status)
        return sorted(site for site, seen in statuses.items() if seen <= LEFT_STATUSES)
