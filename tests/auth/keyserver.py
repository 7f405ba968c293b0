"""A real install key server on loopback (Starlette on uvicorn in a thread), and RSA test keys."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.support.loopback import LoopbackServer


@dataclass(frozen=True)
class RsaKey:
    private_pem: str
    public_pem: str


def make_rsa_key(bits: int = 2048) -> RsaKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return RsaKey(private_pem, public_pem)


@dataclass
class KeyServer:
    """Serves `keys` (kid -> PEM) at GET /<url-encoded kid>, like connect-install-keys.

    `requests` lists the raw request targets received, `max_in_flight` the most answered at
    once; `status` forces an answer status and `delay` (seconds) holds every answer back.
    Use it as a context manager.
    """

    keys: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._in_flight = 0
        self._server = LoopbackServer(Starlette(routes=[Route("/{kid:path}", self._answer)]))

    def __enter__(self) -> KeyServer:
        self.url = self._server.__enter__().url
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.__exit__(exc_type, exc, traceback)

    async def _answer(self, request: Request) -> Response:
        raw_path = request.scope["raw_path"].decode("latin-1")
        query = request.scope["query_string"].decode("latin-1")
        self.requests.append(f"{raw_path}?{query}" if query else raw_path)
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            deadline = time.monotonic() + self.delay
            while time.monotonic() < deadline and not self._stopping.is_set():
                await asyncio.sleep(0.01)
        finally:
            self._in_flight -= 1
        if self.status is not None:
            return PlainTextResponse("forced answer", status_code=self.status)
        pem = self.keys.get(request.path_params["kid"])
        if pem is None:
            return PlainTextResponse("Not Found", status_code=404)
        return PlainTextResponse(pem)
