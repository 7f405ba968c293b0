"""Where `addon serve` listens: the port checked free before start-up, and the base URL it implies."""

from __future__ import annotations

import errno
import ipaddress
import socket

__all__ = ["PortUnavailable", "is_loopback", "probe_port", "served_base_url"]


class PortUnavailable(Exception):
    """The address cannot be listened on: the port is taken, or not ours to take."""


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def served_base_url(host: str, port: int) -> str:
    """`http://HOST:PORT` for a loopback address, IPv6 in brackets."""
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}"


def probe_port(host: str, port: int) -> int:
    """Check that `host:port` can be listened on, as uvicorn binds it; the port (chosen if 0).

    Raises PortUnavailable, with a one-line message, when it cannot. The port is released again
    before uvicorn binds it: should another process take it in between, uvicorn reports that.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
            probe.listen()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortUnavailable(
                    f"port {port} on {host} is already in use (another `addon serve`?);"
                    " stop that server, or choose another port with --port",
                ) from None
            reason = exc.strerror or str(exc)
            raise PortUnavailable(f"cannot listen on {host} port {port}: {reason}") from None
        chosen: int = probe.getsockname()[1]
        return chosen
