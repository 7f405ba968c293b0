"""The JWKS key cache against a real JWKS server on loopback: caching, rotation, rationing, outages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from jwt import PyJWK

from addon.auth import JwksCache, JwksUnavailable, UnknownKey
from tests.support.jwks import JwksServer, SigningKey, closed_port_url, make_signing_key

T = TypeVar("T")


@pytest.fixture(scope="module")
def key_a() -> SigningKey:
    return make_signing_key("forge-key-a")


@pytest.fixture(scope="module")
def key_b() -> SigningKey:
    return make_signing_key("forge-key-b")


class Clock:
    """A clock the test moves by hand (the cache's rationing is counted on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def test_the_set_is_fetched_once_and_its_keys_kept_parsed(key_a: SigningKey) -> None:
    with JwksServer([key_a]) as server:

        async def scenario() -> list[PyJWK]:
            async with JwksCache(server.url) as cache:
                return [await cache.key("forge-key-a") for _ in range(50)]

        keys = run(scenario)
    assert server.requests == 1
    assert all(key is keys[0] for key in keys)  # the same parsed object: never re-parsed
    assert keys[0].key_id == "forge-key-a"


def test_a_rotated_key_is_accepted_after_one_refetch(key_a: SigningKey, key_b: SigningKey) -> None:
    clock = Clock()
    with JwksServer([key_a]) as server:

        async def scenario() -> tuple[PyJWK, JwksCache]:
            async with JwksCache(server.url, clock=clock) as cache:
                await cache.key("forge-key-a")
                server.keys = [key_b]  # Atlassian rotates its key
                clock.now += 61
                return await cache.key("forge-key-b"), cache

        key, cache = run(scenario)
    assert key.key_id == "forge-key-b"
    assert server.requests == 2
    assert cache.fetches == 2
    assert cache.kids == ("forge-key-b",)


def test_made_up_kids_cost_one_fetch_a_minute_at_most(key_a: SigningKey) -> None:
    clock = Clock()
    with JwksServer([key_a]) as server:

        async def flood(cache: JwksCache, prefix: str) -> list[UnknownKey]:
            refusals = []
            for number in range(200):
                try:
                    await cache.key(f"{prefix}-{number}")
                except UnknownKey as exc:
                    refusals.append(exc)
                clock.now += 0.25  # 200 kids in 50 seconds
            return refusals

        async def scenario() -> list[UnknownKey]:
            async with JwksCache(server.url, clock=clock) as cache:
                await cache.key("forge-key-a")
                refusals = await flood(cache, "made-up")
                assert server.requests == 1  # within the minute of the first fetch: none
                clock.now += 10
                refusals += await flood(cache, "invented")
                assert server.requests == 2  # a minute later: one refetch for all of them
                assert await cache.key("forge-key-a") is not None  # the known key still works
            return refusals

        refusals = run(scenario)
    assert len(refusals) == 400
    assert "made-up-0" in str(refusals[0])
    assert refusals[0].status == 401


def test_after_a_minute_an_unknown_kid_may_refetch_again(key_a: SigningKey) -> None:
    clock = Clock()
    with JwksServer([key_a]) as server:

        async def scenario() -> None:
            async with JwksCache(server.url, clock=clock) as cache:
                for _ in range(3):
                    with pytest.raises(UnknownKey):
                        await cache.key("made-up")
                    clock.now += 60

        run(scenario)
    assert server.requests == 3


def test_concurrent_unknown_kids_share_one_fetch(key_a: SigningKey) -> None:
    with JwksServer([key_a], delay=0.2) as server:

        async def scenario() -> list[Any]:
            async with JwksCache(server.url) as cache:
                return await asyncio.gather(
                    *(cache.key(f"kid-{n}") for n in range(30)),
                    cache.key("forge-key-a"),
                    return_exceptions=True,
                )

        results = run(scenario)
    assert server.requests == 1
    assert server.max_in_flight == 1
    assert all(isinstance(result, UnknownKey) for result in results[:-1])
    assert isinstance(results[-1], PyJWK)


def test_a_key_server_that_is_down_gives_a_503_with_retry_after() -> None:
    clock = Clock()

    async def scenario() -> tuple[JwksUnavailable, JwksUnavailable]:
        async with JwksCache(closed_port_url(), clock=clock) as cache:
            with pytest.raises(JwksUnavailable) as first:
                await cache.key("forge-key-a")
            clock.now += 20
            with pytest.raises(JwksUnavailable) as second:
                await cache.key("forge-key-a")
            assert cache.fetches == 1  # not hammered while down
            return first.value, second.value

    first, second = run(scenario)
    assert first.status == 503
    assert first.code == "jwks_unavailable"
    assert first.headers == {"Retry-After": "60"}
    assert second.headers == {"Retry-After": "40"}
    assert "cannot be fetched" in first.reason


@pytest.mark.parametrize(
    ("status", "body_fragment"),
    [(500, "HTTP 500"), (404, "HTTP 404")],
)
def test_a_failing_answer_is_a_503_never_an_acceptance(
    key_a: SigningKey, status: int, body_fragment: str
) -> None:
    with JwksServer([key_a], status=status) as server:

        async def scenario() -> JwksUnavailable:
            async with JwksCache(server.url) as cache:
                with pytest.raises(JwksUnavailable) as caught:
                    await cache.key("forge-key-a")
                return caught.value

        refusal = run(scenario)
    assert body_fragment in refusal.reason


def test_the_cache_recovers_when_the_server_comes_back(key_a: SigningKey) -> None:
    clock = Clock()
    with JwksServer([key_a], status=503) as server:

        async def scenario() -> PyJWK:
            async with JwksCache(server.url, clock=clock) as cache:
                with pytest.raises(JwksUnavailable):
                    await cache.key("forge-key-a")
                server.status = None
                clock.now += 60
                return await cache.key("forge-key-a")

        assert run(scenario).key_id == "forge-key-a"


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        b'{"keys": "none"}',
        b'{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}',
        b'{"keys": [{"kty": "RSA", "kid": "k", "n": "!!", "e": "AQAB"}]}',
    ],
)
def test_an_answer_that_is_not_an_rsa_key_set_is_a_503(document: bytes) -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.support.loopback import LoopbackServer

    async def answer(request: object) -> Response:
        return Response(document, media_type="application/json")

    with LoopbackServer(Starlette(routes=[Route("/jwks", answer)])) as server:

        async def scenario() -> None:
            async with JwksCache(server.url + "/jwks") as cache:
                with pytest.raises(JwksUnavailable):
                    await cache.key("k")

        run(scenario)
