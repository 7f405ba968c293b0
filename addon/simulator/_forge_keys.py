"""Forge's side of a Forge Remote call: its signing key, the JWKS it publishes, and the tokens.

The Forge Invocation Token carries every claim Atlassian's "Forge Remote essentials" lists for a
trigger invocation (`app.installationId`, `app.installation.{id, contexts}`, `app.apiBaseUrl`,
`app.id`, `app.appVersion`, `app.environment`, `app.module`, `aud`, `iss`, `iat`, `nbf`, `exp`
(25 seconds later, as in Atlassian's example) and a 40-hex `jti`); no `principal` or `context`,
which only UI invocations carry. The key set is served at
http://127.0.0.1:8766/.well-known/jwks.json while a command runs: start the add-on with
FORGE_JWKS_URL set to it.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from addon.simulator._keyserver import KeyServerAddress, LoopbackServer

__all__ = [
    "DEFAULT_FORGE_KEY_SERVER",
    "FIT_LIFETIME",
    "JWKS_PATH",
    "ForgeIdentity",
    "ForgeKeyServer",
    "invocation_token",
    "system_token",
]

DEFAULT_FORGE_KEY_SERVER = "127.0.0.1:8766"
JWKS_PATH = "/.well-known/jwks.json"
FIT_LIFETIME = 25
SYSTEM_TOKEN_LIFETIME = 60 * 60


@dataclass(frozen=True, slots=True)
class ForgeIdentity:
    """The simulated Forge: its signing key, and the site it installs apps on."""

    kid: str
    private_key_pem: str = field(repr=False)
    jwk: dict[str, Any] = field(hash=False)
    cloud_id: str
    installation_id: str
    """Used when no Connect-on-Forge installation of the add-on gives one."""

    @classmethod
    def generate(cls) -> ForgeIdentity:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        kid = f"forge-simulated/{uuid.uuid4().hex}"
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        return cls(
            kid=kid,
            private_key_pem=private_pem,
            jwk=jwk,
            cloud_id=str(uuid.uuid4()),
            installation_id=f"ari:cloud:ecosystem::installation/{uuid.uuid4()}",
        )

    @property
    def api_base_url(self) -> str:
        """Where the app calls Jira's API for this site ("Calling Atlassian app APIs")."""
        return f"https://api.atlassian.com/ex/jira/{self.cloud_id}"


def invocation_token(
    identity: ForgeIdentity,
    *,
    app_id: str,
    installation_id: str,
    module_key: str,
    app_version: str = "1.0.0",
    now: float | None = None,
) -> str:
    """A FIT for one call of the app's remote, signed with the simulated Forge key."""
    issued = int(time.time() if now is None else now)
    app_uuid = app_id.rsplit("/", 1)[-1]
    claims = {
        "app": {
            "installationId": installation_id,
            "apiBaseUrl": identity.api_base_url,
            "id": app_id,
            "appVersion": app_version,
            "environment": {
                "type": "DEVELOPMENT",
                "id": f"ari:cloud:ecosystem::environment/{app_uuid}/{identity.cloud_id}",
            },
            "module": {"type": "core:endpoint", "key": module_key},
            "installation": {
                "id": installation_id,
                "contexts": [
                    {
                        "name": "jira",
                        "apiBaseUrl": identity.api_base_url,
                        "cloudId": identity.cloud_id,
                    }
                ],
            },
        },
        "aud": app_id,
        "iss": "forge/invocation-token",
        "iat": issued,
        "nbf": issued,
        "exp": issued + FIT_LIFETIME,
        "jti": secrets.token_hex(20),
    }
    return jwt.encode(
        claims, identity.private_key_pem, algorithm="RS256", headers={"kid": identity.kid}
    )


def system_token(now: float | None = None) -> str:
    """A stand-in for the app's system token: opaque to the add-on, but a JWT with an `exp`."""
    issued = int(time.time() if now is None else now)
    claims = {"iat": issued, "exp": issued + SYSTEM_TOKEN_LIFETIME, "jti": secrets.token_hex(8)}
    return jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256")


class ForgeKeyServer(LoopbackServer):
    """Serves the simulated Forge's JWKS at GET /.well-known/jwks.json while used as a context
    manager; `requests` counts the fetches."""

    what = "the Forge key server"
    setting = "FORGE_JWKS_URL"
    thread_name = "simulator-forge-key-server"

    def __init__(self, address: KeyServerAddress, identity: ForgeIdentity) -> None:
        super().__init__(address)
        self.requests = 0
        self._document = json.dumps({"keys": [identity.jwk]}).encode()

    @property
    def url(self) -> str:
        """The value for the add-on's FORGE_JWKS_URL."""
        return self.address.url + JWKS_PATH

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class JwksHandler(BaseHTTPRequestHandler):
            server_version = "addon-simulator-forge-keys"
            sys_version = ""

            def do_GET(self) -> None:
                server.requests += 1
                found = self.path.split("?", 1)[0] == JWKS_PATH
                body = server._document if found else b'{"error": "not found"}'
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=300")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the simulator reports what matters itself."""

        return JwksHandler
