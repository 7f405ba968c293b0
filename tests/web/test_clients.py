"""The client address a request resolves to, through the proxies of FORWARDED_ALLOW_IPS."""

from __future__ import annotations

from typing import Any

import pytest

from addon.web._clients import TrustedProxies


def scope(peer: str | None, *forwarded_for: str) -> dict[str, Any]:
    return {
        "client": (peer, 5000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded_for],
    }


@pytest.mark.parametrize(
    ("spec", "request_scope", "client"),
    [
        # a peer that is not a trusted proxy is the client, whatever it claims
        ("127.0.0.1", scope("198.51.100.4", "203.0.113.7"), "198.51.100.4"),
        ("127.0.0.1", scope("198.51.100.4"), "198.51.100.4"),
        # behind a trusted proxy: the right-most hop that is not a trusted proxy
        ("127.0.0.1", scope("127.0.0.1", "1.1.1.1, 203.0.113.7"), "203.0.113.7"),
        ("127.0.0.1", scope("127.0.0.1", "1.1.1.1", "203.0.113.7"), "203.0.113.7"),
        (
            "127.0.0.1, 10.0.0.0/8",
            scope("127.0.0.1", "1.1.1.1, 203.0.113.7, 10.1.2.3"),
            "203.0.113.7",
        ),
        ("127.0.0.1", scope("127.0.0.1", "1.1.1.1, 203.0.113.7:4711"), "203.0.113.7"),
        ("127.0.0.1", scope("127.0.0.1", "[2001:DB8::7]:443"), "2001:db8::7"),
        ("127.0.0.1", scope("127.0.0.1", "2001:db8:0::7"), "2001:db8::7"),
        ("127.0.0.1", scope("127.0.0.1", "evil, unknown"), "unknown"),
        # every hop a trusted proxy: the first; no hop at all: the proxy itself
        ("127.0.0.1, 10.0.0.0/8", scope("127.0.0.1", "10.0.0.5, 10.0.0.6"), "10.0.0.5"),
        ("127.0.0.1", scope("127.0.0.1"), "127.0.0.1"),
        ("127.0.0.1", scope("127.0.0.1", " , "), "127.0.0.1"),
        # `*`: the peer is the proxy, and the hop it appended is the client
        ("*", scope("10.9.8.7", "1.1.1.1, 2.2.2.2, 203.0.113.7"), "203.0.113.7"),
        ("*", scope("10.9.8.7"), "10.9.8.7"),
        ("127.0.0.1", scope(None), "unknown"),
    ],
)
def test_the_client_is_the_right_most_untrusted_hop(
    spec: str, request_scope: dict[str, Any], client: str
) -> None:
    assert TrustedProxies(spec).client(request_scope) == client


def test_a_client_cannot_choose_its_address_by_rotating_the_header() -> None:
    proxies = TrustedProxies("127.0.0.1")
    direct = {proxies.client(scope("198.51.100.4", f"10.0.0.{n}")) for n in range(50)}
    proxied = {proxies.client(scope("127.0.0.1", f"10.0.0.{n}, 203.0.113.7")) for n in range(50)}
    assert direct == {"198.51.100.4"} and proxied == {"203.0.113.7"}


def test_trust_by_address_network_and_literal() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8, ::1, unix:/run/proxy.sock, not/a/net")
    assert proxies.trusts("127.0.0.1") and proxies.trusts("10.200.0.1") and proxies.trusts("::1")
    assert proxies.trusts("unix:/run/proxy.sock") and proxies.trusts("not/a/net")
    assert not proxies.trusts("127.0.0.2") and not proxies.trusts("11.0.0.1")
    assert not proxies.trusts("")


def test_a_hostile_hop_is_bounded() -> None:
    client = TrustedProxies("127.0.0.1").client(scope("127.0.0.1", "x" * 10_000))
    assert client == "x" * 100


def test_forwarding_is_ignored_from_a_peer_that_is_no_trusted_proxy() -> None:
    proxies = TrustedProxies("127.0.0.1")
    assert proxies.ignores_forwarding(scope("198.51.100.4", "203.0.113.7"))
    assert not proxies.ignores_forwarding(scope("198.51.100.4"))
    assert not proxies.ignores_forwarding(scope("127.0.0.1", "203.0.113.7"))
    # a server that resolved the client already (uvicorn's proxy headers) left it among the hops
    assert not proxies.ignores_forwarding(scope("203.0.113.7", "1.1.1.1, 203.0.113.7"))
