"""The simulator's key server, fetched with the add-on's own InstallKeyFetcher."""

from __future__ import annotations

import asyncio

import pytest

from addon.auth import InstallKeyFetcher, UnknownKey
from addon.simulator import DEFAULT_KEY_SERVER, KeyServer, KeyServerAddress, SimulatedSite
from addon.simulator._keyserver import KeyServerError
from tests.support.live import free_port


def test_addresses() -> None:
    assert KeyServerAddress.parse(DEFAULT_KEY_SERVER) == KeyServerAddress("127.0.0.1", 8765)
    assert KeyServerAddress.parse("[::1]:9000").url == "http://[::1]:9000"
    assert str(KeyServerAddress.parse("localhost:1234")) == "localhost:1234"
    for bad in ("8765", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", ":80"):
        with pytest.raises(ValueError, match=r"HOST:PORT|port"):
            KeyServerAddress.parse(bad)


def test_the_addon_fetches_the_site_key_by_kid() -> None:
    site = SimulatedSite.generate()
    address = KeyServerAddress("127.0.0.1", free_port())

    async def fetch(kid: str) -> str:
        async with InstallKeyFetcher(address.url, timeout=5) as fetcher:
            return await fetcher.get(kid)

    with KeyServer(address, {site.kid: site.public_key_pem}) as server:
        assert asyncio.run(fetch(site.kid)) == site.public_key_pem
        with pytest.raises(UnknownKey):
            asyncio.run(fetch("simulated/unknown"))
    assert server.requested == [site.kid, "simulated/unknown"]


def test_the_key_server_runs_only_while_in_use() -> None:
    address = KeyServerAddress("127.0.0.1", free_port())
    with (
        KeyServer(address, {}),
        pytest.raises(KeyServerError, match="--key-server HOST:PORT"),
        KeyServer(address, {}),
    ):
        pass
    with KeyServer(address, {}):
        pass
