"""A site by its URL, whatever door can call it: `site_name` and `Reach`."""

from __future__ import annotations

import asyncio
import re
from typing import cast

import httpx
import pytest

from addon.connect import ConnectDoor, render_for
from addon.doors import AnyDoor, Runtime, SiteFacts
from addon.reach import Reach, SiteUnreachable, site_name
from addon.settings import Settings
from addon.sources import SourceDoor
from addon.store import TenantState, open_store


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("https://example.atlassian.net", "https://example.atlassian.net"),
        ("https://Example.Atlassian.net/", "https://example.atlassian.net"),
        ("https://example.atlassian.net/jira/software", "https://example.atlassian.net"),
        ("example.atlassian.net", "https://example.atlassian.net"),
        ("  http://127.0.0.1:8767/ ", "http://127.0.0.1:8767"),
    ],
)
def test_a_site_has_one_name_however_its_url_is_written(given: str, name: str) -> None:
    assert site_name(given) == name


@pytest.mark.parametrize("given", ["", "https://", "://"])
def test_what_names_no_host_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="not a site URL"):
        site_name(given)


def test_an_installed_connect_tenant_is_reached_by_its_url_and_an_uninstalled_one_is_not(
    sqlite_url: str,
) -> None:
    async def scenario() -> None:
        store = await open_store(sqlite_url)
        http = httpx.AsyncClient()
        try:
            for key, url in (("one", "https://One.atlassian.net/"), ("two", "https://two.net")):
                await store.tenants.save_installation(
                    {"key": "k", "clientKey": key, "sharedSecret": "s" * 32, "baseUrl": url},
                    iat=1,
                )
            await store.tenants.set_state("two", TenantState.UNINSTALLED, iat=2)
            settings = Settings(key="k")
            doors: list[AnyDoor] = [SourceDoor(), ConnectDoor(settings, render_for(settings))]
            for door in doors:
                await door.start(Runtime(store=store, http=http))
            reach = Reach(doors)
            factory = await reach.client_for("https://one.atlassian.net")
            assert factory.site_url == "https://One.atlassian.net/"
            async with factory() as client:
                assert str(client.base_url).startswith("https://one.atlassian.net")
            with pytest.raises(
                SiteUnreachable, match=re.escape("no door can call https://two.net")
            ):
                await reach.client_for("https://two.net")
            with pytest.raises(SiteUnreachable):
                await reach.client_for("https://unknown.atlassian.net")
        finally:
            await http.aclose()
            await store.close()

    asyncio.run(scenario())


class Listing:
    """A door that lists sites in given states and reaches none."""

    connect_path = None

    def __init__(self, *listed: tuple[str, str]) -> None:
        self._listed = listed

    async def site_client(self, site: str) -> None:
        return None

    async def site_facts(self) -> list[SiteFacts]:
        return [SiteFacts(url, "fake", url, status) for url, status in self._listed]


def test_a_site_is_left_only_when_every_door_listing_it_says_so() -> None:
    forge = Listing(
        ("https://gone.atlassian.net", "uninstalled"),
        ("https://both.atlassian.net", "uninstalled"),
        ("https://silent.atlassian.net", "silent"),
    )
    oauth = Listing(
        ("https://Cut.atlassian.net/", "disconnected"),
        ("https://both.atlassian.net", "connected"),
        ("https://later.atlassian.net", "needs reconnect"),
    )
    reach = Reach(cast(list[AnyDoor], [forge, oauth]))
    assert asyncio.run(reach.left_sites()) == [
        "https://cut.atlassian.net",
        "https://gone.atlassian.net",
    ]
