"""Who a request comes from: the peer, or the client a trusted proxy says it forwarded for.

`FORWARDED_ALLOW_IPS` (uvicorn's variable, read with the same syntax: addresses, networks, `*`)
names the proxies whose `X-Forwarded-For` is believed. Each proxy appends the address it received
the request from, so the list is read from the right, past the trusted proxies: the first hop
that is not one is the client. What a client writes itself stands left of that and is never
reached, so a client that is not a trusted proxy cannot choose the address it is known by.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

__all__ = ["TrustedProxies"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESS_LENGTH = 100


class TrustedProxies:
    """The proxies of `FORWARDED_ALLOW_IPS`, and the client address a request resolves to.

    With `*` every peer is trusted as the proxy in front, and the hop it appended (the right-most)
    is the client: trusting every entry would let a client name itself, as uvicorn's `*` does.
    """

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self._addresses: set[IPAddress] = set()
        self._networks: list[IPNetwork] = []
        self._literals: set[str] = set()  # e.g. a unix socket path, as uvicorn allows
        for item in items:
            try:
                if "/" in item:
                    self._networks.append(ipaddress.ip_network(item, strict=False))
                else:
                    self._addresses.add(ipaddress.ip_address(item))
            except ValueError:
                self._literals.add(item)
        self.trusts = functools.lru_cache(maxsize=1024)(self._trusts)

    def _trusts(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self._literals
        return address in self._addresses or any(address in net for net in self._networks)

    def client(self, scope: Scope) -> str:
        """The client address of the request in `scope` ("unknown" if there is none)."""
        peer = _canonical(scope["client"][0]) if scope.get("client") else ""
        if not peer or not self.trusts(peer):
            return peer or "unknown"
        hops = _hops(scope)
        if not hops:
            return peer
        if self.everyone:
            return hops[-1]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0]  # every hop a trusted proxy: the first is the client

    def ignores_forwarding(self, scope: Scope) -> bool:
        """Whether `scope` carries an `X-Forwarded-For` that is not believed, its peer being no
        trusted proxy. (A server that resolved the client already made it one of the hops.)"""
        hops = _hops(scope)
        return bool(hops) and self.client(scope) not in hops


def _hops(scope: Scope) -> list[str]:
    return [host for host in map(_host, _forwarded_for(scope["headers"])) if host]


def _forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every `X-Forwarded-For` entry in order, across repeated headers."""
    return [
        hop
        for name, value in headers
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]


def _host(hop: str) -> str:
    """The address of one `X-Forwarded-For` entry, without its port (`[v6]:port`, `v4:port`)."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1 : hop.find("]")] if "]" in hop else hop
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    return _canonical(hop)


def _canonical(host: str) -> str:
    """One spelling per address (`2001:DB8::1` and `2001:db8:0::1` are one client), bounded."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host[:MAX_ADDRESS_LENGTH]
