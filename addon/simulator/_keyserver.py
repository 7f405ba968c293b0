"""The simulated site's install key server: its public key at GET /<kid>, as
connect-install-keys.atlassian.com serves Atlassian's, on a loopback address and only while an
install or uninstall is under way. The add-on finds it through CONNECT_INSTALL_KEYS_URL."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

from addon.simulator._errors import SimulatorError

__all__ = [
    "DEFAULT_KEY_SERVER",
    "KeyServer",
    "KeyServerAddress",
    "KeyServerError",
    "LoopbackServer",
]

DEFAULT_KEY_SERVER = "127.0.0.1:8765"


class KeyServerError(SimulatorError):
    """The key server cannot listen where it was asked to."""


@dataclass(frozen=True, slots=True)
class KeyServerAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> KeyServerAddress:
        """`HOST:PORT` (`[::1]:PORT` for IPv6); ValueError says what is wrong."""
        host, separator, port_text = text.strip().rpartition(":")
        if not separator or not host or not port_text.isdigit():
            raise ValueError(f"{text!r} is not HOST:PORT (e.g. {DEFAULT_KEY_SERVER})")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError(f"{text!r}: the port must be 1 to 65535")
        return cls(host, port)

    @property
    def url(self) -> str:
        """The value for the add-on's CONNECT_INSTALL_KEYS_URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url.removeprefix("http://")


class LoopbackServer:
    """A threaded HTTP server on `address` while used as a context manager: what the simulator's
    key servers share. A subclass names itself, the add-on setting that points at it, and its
    request handler."""

    what = "the server"
    setting = ""
    thread_name = "simulator-server"

    def __init__(self, address: KeyServerAddress) -> None:
        self.address = address
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        server_class = _Server6 if _is_ipv6(self.address.host) else ThreadingHTTPServer
        try:
            self._server = server_class((self.address.host, self.address.port), self.handler())
        except OSError as exc:
            raise KeyServerError(
                f"{self.what} cannot listen on {self.address}: {exc.strerror or exc};"
                " choose another address with --key-server HOST:PORT and start the add-on"
                f" with {self.setting} set to it"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None
        self._thread = None


class KeyServer(LoopbackServer):
    """Serves `keys` (kid -> PEM public key) while used as a context manager.

    `requested` lists the kids asked for, so a refused install can tell whether the add-on
    asked this server at all.
    """

    what = "the key server"
    setting = "CONNECT_INSTALL_KEYS_URL"
    thread_name = "simulator-key-server"

    def __init__(self, address: KeyServerAddress, keys: Mapping[str, str]) -> None:
        super().__init__(address)
        self.requested: list[str] = []
        self._keys = dict(keys)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self._keys, self.requested)


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _handler(keys: Mapping[str, str], requested: list[str]) -> type[BaseHTTPRequestHandler]:
    class KeyHandler(BaseHTTPRequestHandler):
        server_version = "addon-simulator-keys"
        sys_version = ""

        def do_GET(self) -> None:
            kid = unquote(urlsplit(self.path).path.lstrip("/"))
            requested.append(kid)
            pem = keys.get(kid)
            body = (pem if pem is not None else "Not Found").encode("ascii")
            self.send_response(200 if pem is not None else 404)
            self.send_header("Content-Type", "text/plain; charset=us-ascii")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the simulator reports what matters itself."""

    return KeyHandler
