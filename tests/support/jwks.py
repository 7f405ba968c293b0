"""A real JWKS server on loopback (Starlette on uvicorn in a thread) and RSA signing keys for it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.loopback import LoopbackServer


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair with its `kid`; `jwk` is the public half as a JWKS entry."""

    kid: str
    private_pem: str
    public_pem: str
    jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        """RS256 over the claims as given (PyJWS: no check of their types, for hostile tests)."""
        return jwt.PyJWS().encode(
            json.dumps(claims).encode(),
            self.private_pem,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )


def make_signing_key(kid: str) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return SigningKey(kid, private_pem, public_pem, jwk)


@dataclass
class JwksServer:
    """Serves `keys` as a JWKS at GET /.well-known/jwks.json while used as a context manager.

    `requests` counts the answers given, `max_in_flight` the most answered at once; `status`
    forces an answer status and `delay` (seconds) holds every answer back.
    """

    keys: list[SigningKey] = field(default_factory=list)
    status: int | None = None
    delay: float = 0.0
    requests: int = 0
    max_in_flight: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._in_flight = 0
        self._server = LoopbackServer(
            Starlette(routes=[Route("/.well-known/jwks.json", self._answer)])
        )

    def __enter__(self) -> JwksServer:
        self.url = self._server.__enter__().url + "/.well-known/jwks.json"
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
        self.requests += 1
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
        return JSONResponse({"keys": [key.jwk for key in self.keys]})


def closed_port_url() -> str:
    """A JWKS URL on a loopback port where nothing listens (a key server that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"
