"""Forge Remote deliveries for the benchmark, beside the Connect webhooks of the same run.

The same 3-6 KB issue bodies as `_requests`, as Forge sends them to a remote ("Jira events":
`eventType` avi:jira:updated:issue, the actor as `atlassianId`, no Connect-only fields), posted to
/forge/events with `Authorization: Bearer <Forge Invocation Token>` (RS256, the simulated Forge's
key, its JWKS served by the simulator's Forge key server) and the app's system token in
`x-forge-oauth-system`, as an endpoint with `appSystemToken` gets it. Forge sends no delivery
identifier: each request's body carries its own (`benchId`, written by webhooks.lua), so that every
request is a new delivery, as every Forge event is.

Tokens: Forge's live 25 s; these live an hour, to outlive the run (the door checks `exp`, not the
lifetime). 500 distinct tokens are signed (RS256 signing is slow) and used in turn: the server
verifies each request's token in full, caching nothing per token, so reuse costs it the same.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from addon.simulator._forge_keys import ForgeIdentity, system_token
from bench._requests import RequestPool, make_bodies

__all__ = ["APP_ID", "EVENTS_PATH", "forge_env", "install_forge", "sign_forge_pool"]

APP_ID = "ari:cloud:ecosystem::app/5d3a1f0e-8b7c-4e2a-9f61-0c4b2d8e7a93"
EVENTS_PATH = "/forge/events"
TOKENS = 500
TOKEN_SECONDS = 3600
_CONNECT_ONLY = ("webhookEvent", "user", "timestamp", "issue_event_type_name", "matchedWebhookIds")


def _forge_event(body: bytes) -> bytes:
    connect = json.loads(body)
    event: dict[str, Any] = {
        "eventType": "avi:jira:updated:issue",
        "timestamp": str(connect.get("timestamp", 0)),
    }
    event.update({k: v for k, v in connect.items() if k not in _CONNECT_ONLY})
    event["atlassianId"] = connect["user"]["accountId"]
    event["associatedUsers"] = [{"accountId": connect["user"]["accountId"]}]
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _token(identity: ForgeIdentity, installation_id: str, now: int, key: Any = None) -> str:
    """A FIT for `installation_id`, signed with `key` (the identity's, loaded once by the caller:
    loading a PEM key checks it, some 50 ms each time)."""
    app_uuid = APP_ID.rsplit("/", 1)[-1]
    claims = {
        "app": {
            "installationId": installation_id,
            "apiBaseUrl": identity.api_base_url,
            "id": APP_ID,
            "appVersion": "1.0.0",
            "environment": {
                "type": "PRODUCTION",
                "id": f"ari:cloud:ecosystem::environment/{app_uuid}/{identity.cloud_id}",
            },
            "module": {"type": "core:endpoint", "key": "forge-events"},
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
        "aud": APP_ID,
        "iss": "forge/invocation-token",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_SECONDS,
        "jti": secrets.token_hex(20),
    }
    return jwt.encode(
        claims,
        identity.private_key_pem if key is None else key,
        algorithm="RS256",
        headers={"kid": identity.kid},
    )


def sign_forge_pool(
    identity: ForgeIdentity, directory: Path, count: int, *, bodies: int = 256
) -> RequestPool:
    """Write `count` Forge requests (and the bodies they use) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    made = [_forge_event(body) for body, _ in make_bodies(bodies)]
    bodies_file = directory / "bodies.jsonl"
    bodies_file.write_bytes(b"".join(body + b"\n" for body in made))
    now = int(time.time())
    key = serialization.load_pem_private_key(identity.private_key_pem.encode(), password=None)
    tokens = [_token(identity, identity.installation_id, now, key) for _ in range(TOKENS)]
    requests_file = directory / "requests.tsv"
    with requests_file.open("w") as out:
        for index in range(count):
            token = tokens[index % len(tokens)]
            out.write(f"{uuid.uuid4()}\t{index % len(made)}\t{EVENTS_PATH}\t{token}\n")
    return RequestPool(
        requests_file,
        bodies_file,
        count,
        float(now),
        tuple(len(body) for body in made),
        scheme="Bearer",
        id_in_body=True,
        headers=f"x-forge-oauth-system: {system_token(now)}\r\n",
    )


def forge_env(jwks_url: str) -> dict[str, str]:
    """The add-on's settings for the Forge door of the run."""
    return {"FORGE_APP_ID": APP_ID, "FORGE_JWKS_URL": jwks_url}


def install_forge(server_url: str, identity: ForgeIdentity) -> None:
    """avi:forge:installed:app, as Forge sends it after an install (with the system token)."""
    now = int(time.time())
    event = {
        "eventType": "avi:forge:installed:app",
        "id": identity.installation_id.rsplit("/", 1)[-1],
        "app": {"id": APP_ID.rsplit("/", 1)[-1], "version": "1.0.0"},
        "context": f"ari:cloud:jira::site/{identity.cloud_id}",
    }
    response = httpx.post(
        server_url + EVENTS_PATH,
        content=json.dumps(event),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {_token(identity, identity.installation_id, now)}",
            "x-forge-oauth-system": system_token(now),
        },
        timeout=10,
    )
    if response.status_code != 204:
        raise RuntimeError(f"Forge install failed: {response.status_code} {response.text}")
