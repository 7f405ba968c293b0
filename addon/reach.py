"""Reaching a Jira site by its URL, whatever door knows it.

A site is one thing across doors, named by its URL (`https://example.atlassian.net`). People and
sync call Jira for a site, not for a delivery: `Reach` asks each open door, in the app factory's
order, for a client of that site and takes the first one it gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from addon.doors import AnyDoor, JiraClientFactory

__all__ = ["Reach", "SiteUnreachable", "site_name"]


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
        """A client factory for `site`'s Jira REST API; `SiteUnreachable` when no door has one."""
        name = site_name(site)
        for door in self._doors:
            factory = await door.site_client(name)
            if factory is not None:
                return factory
        raise SiteUnreachable(
            f"no door can call {name}: install the app there, connect it with OAuth "
            "(/oauth/connect) or give its admin-webhook source an API token"
        )
