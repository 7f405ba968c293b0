"""A simulated Jira Cloud site: its identity, its install signing key, and the tokens it mints."""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from addon.auth import encode_hs256, encode_rs256, query_string_hash

__all__ = ["TOKEN_LIFETIME", "SimulatedSite"]

TOKEN_LIFETIME = 180


@dataclass(frozen=True, slots=True)
class SimulatedSite:
    """What a Jira site holds toward one add-on; every token it makes is signed as Jira signs it."""

    client_key: str
    base_url: str
    shared_secret: str
    kid: str
    private_key_pem: str
    public_key_pem: str
    installation_id: str | None = None
    """Set when Forge installed the app: Connect on Forge adds it to the `installed` payload."""

    @classmethod
    def generate(cls, base_url: str = "https://simulated.atlassian.net") -> SimulatedSite:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return cls(
            client_key=str(uuid.uuid4()),
            base_url=base_url,
            shared_secret=cls.new_secret(),
            kid=f"simulated/{uuid.uuid4().hex}",
            private_key_pem=private_pem,
            public_key_pem=public_pem,
        )

    @staticmethod
    def new_secret() -> str:
        """A shared secret shaped like Atlassian's current ones (a prefix, a long random body)."""
        return "ATCOSEC_" + secrets.token_urlsafe(96)

    @staticmethod
    def new_installation_id() -> str:
        """A Forge installation id, as Connect on Forge sends it (an ARI)."""
        return f"ari:cloud:ecosystem::installation/{uuid.uuid4()}"

    def with_secret(self, secret: str) -> SimulatedSite:
        return dataclasses.replace(self, shared_secret=secret)

    def lifecycle_payload(self, event_type: str, addon_key: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "key": addon_key,
            "clientKey": self.client_key,
            "baseUrl": self.base_url,
            "displayUrl": self.base_url,
            "productType": "jira",
            "description": f"Atlassian JIRA at {self.base_url}",
            "eventType": event_type,
        }
        if event_type == "installed":
            payload["sharedSecret"] = self.shared_secret
            if self.installation_id is not None:
                payload["installationId"] = self.installation_id
        return payload

    def install_token(
        self, *, addon_base_url: str, target: str, method: str = "POST", now: float | None = None
    ) -> str:
        """RS256 with `kid`, `aud` = the add-on's baseUrl, `iss` = clientKey, URL-bound `qsh`."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.client_key,
            "aud": [addon_base_url],
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME,
            "qsh": query_string_hash(method, target, addon_base_url),
            "context": {},
        }
        return encode_rs256(claims, self.private_key_pem, self.kid)

    def token(
        self,
        *,
        addon_base_url: str,
        target: str,
        method: str = "POST",
        now: float | None = None,
        account_id: str | None = None,
    ) -> str:
        """HS256 with the shared secret, as on webhooks and the enabled/disabled callbacks."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.client_key,
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME,
            "qsh": query_string_hash(method, target, addon_base_url),
        }
        if account_id:
            claims["sub"] = account_id
        return encode_hs256(claims, self.shared_secret)
