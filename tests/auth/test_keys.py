"""Fetching and caching install keys, against a real key server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from addon.auth import (
    DEFAULT_INSTALL_KEYS_URL,
    InstallKeyFetcher,
    InvalidKeyId,
    KeyServerUnavailable,
    MissingKeyId,
    UnknownKey,
)
from tests.auth.keyserver import KeyServer, RsaKey

KID = "jira/0123abcd-4567-89ef-0123-456789abcdef"
KID_PATH = "/jira%2F0123abcd-4567-89ef-0123-456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


T = TypeVar("T")


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def test_default_key_server() -> None:
    assert DEFAULT_INSTALL_KEYS_URL == "https://connect-install-keys.atlassian.com"
    assert InstallKeyFetcher().base_url == DEFAULT_INSTALL_KEYS_URL


def test_fetches_once_then_serves_from_the_cache(atlassian_key: RsaKey) -> None:
    with KeyServer(keys={KID: atlassian_key.public_pem}) as server:

        async def scenario() -> tuple[str, str]:
            async with InstallKeyFetcher(server.url + "/") as fetcher:
                return await fetcher.get(KID), await fetcher.get(KID)

        first, second = run(scenario)
    assert first == second == atlassian_key.public_pem
    assert server.requests == [KID_PATH]


def test_kid_is_one_encoded_path_segment(atlassian_key: RsaKey) -> None:
    kid = "a/b/../c.d_e-f"
    with KeyServer(keys={kid: atlassian_key.public_pem}) as server:

        async def scenario() -> str:
            async with InstallKeyFetcher(server.url) as fetcher:
                return await fetcher.get(kid)

        assert run(scenario) == atlassian_key.public_pem
    assert server.requests == ["/a%2Fb%2F..%2Fc.d_e-f"]


def test_unknown_kid_is_remembered_for_a_while(atlassian_key: RsaKey) -> None:
    clock = Clock()
    with KeyServer() as server:

        async def scenario() -> None:
            async with InstallKeyFetcher(server.url, negative_ttl=60, clock=clock) as fetcher:
                for _ in range(2):
                    with pytest.raises(UnknownKey) as caught:
                        await fetcher.get(KID)
                    assert caught.value.status == 401 and caught.value.code == "unknown_key"
                    assert KID in caught.value.reason
                assert server.requests == [KID_PATH]
                clock.now += 59
                with pytest.raises(UnknownKey):
                    await fetcher.get(KID)
                assert len(server.requests) == 1
                clock.now += 2
                server.keys[KID] = atlassian_key.public_pem
                assert await fetcher.get(KID) == atlassian_key.public_pem
                assert len(server.requests) == 2

        run(scenario)


def test_the_negative_cache_is_bounded() -> None:
    with KeyServer() as server:

        async def scenario() -> None:
            async with InstallKeyFetcher(server.url, max_negative=2) as fetcher:
                for kid in ("a", "b", "c", "a"):
                    with pytest.raises(UnknownKey):
                        await fetcher.get(kid)

        run(scenario)
    assert server.requests == ["/a", "/b", "/c", "/a"]


def test_the_key_cache_is_bounded_least_recently_used_first(atlassian_key: RsaKey) -> None:
    keys = dict.fromkeys(("a", "b", "c"), atlassian_key.public_pem)
    with KeyServer(keys=keys) as server:

        async def scenario() -> None:
            async with InstallKeyFetcher(server.url, max_keys=2) as fetcher:
                for kid in ("a", "b", "a", "c", "a", "b"):
                    await fetcher.get(kid)

        run(scenario)
    assert server.requests == ["/a", "/b", "/c", "/b"]


@pytest.mark.parametrize("status", [500, 502, 503, 403, 301, 204])
def test_server_errors_are_unavailable_and_not_cached(status: int, atlassian_key: RsaKey) -> None:
    with KeyServer(keys={KID: atlassian_key.public_pem}, status=status) as server:

        async def scenario() -> None:
            async with InstallKeyFetcher(server.url) as fetcher:
                with pytest.raises(KeyServerUnavailable) as caught:
                    await fetcher.get(KID)
                assert caught.value.status == 503
                assert caught.value.code == "key_server_unavailable"
                assert f"HTTP {status}" in caught.value.reason
                server.status = None
                assert await fetcher.get(KID) == atlassian_key.public_pem

        run(scenario)
    assert server.requests == [KID_PATH, KID_PATH]


def test_a_slow_server_is_unavailable_quickly(atlassian_key: RsaKey) -> None:
    with KeyServer(keys={KID: atlassian_key.public_pem}, delay=5) as server:

        async def scenario() -> float:
            async with InstallKeyFetcher(server.url, timeout=0.3) as fetcher:
                started = time.monotonic()
                with pytest.raises(KeyServerUnavailable) as caught:
                    await fetcher.get(KID)
                assert "did not answer within 0.3 s" in caught.value.reason
                return time.monotonic() - started

        elapsed = run(scenario)
    assert elapsed < 1.5


def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        async with InstallKeyFetcher(f"http://127.0.0.1:{port}", timeout=2) as fetcher:
            with pytest.raises(KeyServerUnavailable) as caught:
                await fetcher.get(KID)
            assert "could not reach the install key server" in caught.value.reason

    run(scenario)


def test_concurrent_gets_of_one_kid_share_one_fetch(atlassian_key: RsaKey) -> None:
    with KeyServer(keys={KID: atlassian_key.public_pem}, delay=0.3) as server:

        async def scenario() -> list[str]:
            async with InstallKeyFetcher(server.url) as fetcher:
                return await asyncio.gather(*(fetcher.get(KID) for _ in range(10)))

        keys = run(scenario)
    assert keys == [atlassian_key.public_pem] * 10
    assert server.requests == [KID_PATH]


def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(atlassian_key: RsaKey) -> None:
    with KeyServer(keys={KID: atlassian_key.public_pem}, delay=0.3) as server:

        async def scenario() -> str:
            async with InstallKeyFetcher(server.url) as fetcher:
                impatient = asyncio.ensure_future(fetcher.get(KID))
                patient = asyncio.ensure_future(fetcher.get(KID))
                await asyncio.sleep(0.1)
                impatient.cancel()
                return await patient

        assert run(scenario) == atlassian_key.public_pem
    assert server.requests == [KID_PATH]


def test_concurrent_fetches_are_bounded(atlassian_key: RsaKey) -> None:
    keys = {f"k{n}": atlassian_key.public_pem for n in range(6)}
    with KeyServer(keys=keys, delay=0.2) as server:

        async def scenario() -> None:
            async with InstallKeyFetcher(server.url, max_concurrent=2) as fetcher:
                await asyncio.gather(*(fetcher.get(kid) for kid in keys))

        run(scenario)
    assert len(server.requests) == 6
    assert server.max_in_flight == 2


def test_waiting_for_a_fetch_slot_is_bounded_by_the_timeout(atlassian_key: RsaKey) -> None:
    keys = {"slow-1": atlassian_key.public_pem, "slow-2": atlassian_key.public_pem}
    with KeyServer(keys=keys, delay=5) as server:

        async def scenario() -> list[BaseException | str]:
            async with InstallKeyFetcher(server.url, timeout=0.4, max_concurrent=1) as fetcher:
                gets = (fetcher.get("slow-1"), fetcher.get("slow-2"))
                return list(await asyncio.gather(*gets, return_exceptions=True))

        started = time.monotonic()
        results = run(scenario)
        elapsed = time.monotonic() - started
    assert all(isinstance(result, KeyServerUnavailable) for result in results)
    assert elapsed < 2
    assert server.requests[0] == "/slow-1"


def _ec_public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    "answer",
    [
        "<html>Not a key</html>",
        "",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "private",
        "ec",
        "x" * 20_000,
    ],
)
def test_an_answer_that_is_not_an_rsa_public_key_is_unavailable(
    answer: str, atlassian_key: RsaKey
) -> None:
    answer = {"private": atlassian_key.private_pem, "ec": _ec_public_pem()}.get(answer, answer)
    with KeyServer(keys={KID: answer}) as server:

        async def scenario() -> None:
            async with InstallKeyFetcher(server.url) as fetcher:
                for _ in range(2):
                    with pytest.raises(KeyServerUnavailable) as caught:
                        await fetcher.get(KID)
                    assert caught.value.status == 503
                    assert atlassian_key.private_pem not in caught.value.reason

        run(scenario)
    assert len(server.requests) == 2


@pytest.mark.parametrize("kid", ["", "a b", "a?b", "..", ".", "é", "x" * 201])
def test_bad_kids_are_refused_without_a_request(kid: str) -> None:
    with KeyServer() as server:

        async def scenario() -> None:
            async with InstallKeyFetcher(server.url) as fetcher:
                with pytest.raises(MissingKeyId if kid == "" else InvalidKeyId):
                    await fetcher.get(kid)

        run(scenario)
    assert server.requests == []


def test_an_injected_client_is_used_and_left_open(atlassian_key: RsaKey) -> None:
    with KeyServer(keys={KID: atlassian_key.public_pem}) as server:

        async def scenario() -> None:
            seen: list[str] = []

            async def log(request: httpx.Request) -> None:
                seen.append(str(request.url))

            async with httpx.AsyncClient(event_hooks={"request": [log]}) as client:
                fetcher = InstallKeyFetcher(server.url, client=client)
                assert await fetcher.get(KID) == atlassian_key.public_pem
                await fetcher.aclose()
                assert not client.is_closed
                assert seen == [server.url + KID_PATH]

        run(scenario)


def test_an_own_client_is_closed(atlassian_key: RsaKey) -> None:
    with KeyServer(keys={KID: atlassian_key.public_pem}) as server:

        async def scenario() -> None:
            fetcher = InstallKeyFetcher(server.url)
            await fetcher.get(KID)
            client = fetcher._client
            assert client is not None
            await fetcher.aclose()
            assert client.is_closed
            assert await fetcher.get(KID) == atlassian_key.public_pem

        run(scenario)
