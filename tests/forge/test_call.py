"""A whole Forge Remote call verified from plain values: token first, then body and system token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import jwt
import pytest

from addon.auth import JwksCache, UnknownKey
from addon.forge import ForgeCall, MissingInvocationToken, verify_call
from tests.forge.test_verify import APP_ID, CLOUD_ID, INSTALLATION, LEEWAY, NOW, fit_claims
from tests.support.jwks import JwksServer, SigningKey, make_signing_key

SYSTEM_TOKEN = jwt.encode({"exp": int(NOW) + 3600}, "s" * 32, algorithm="HS256")


@pytest.fixture(scope="module")
def forge_key() -> SigningKey:
    return make_signing_key("forge/call-test")


@pytest.fixture(scope="module")
def jwks(forge_key: SigningKey) -> Iterator[JwksServer]:
    with JwksServer([forge_key]) as server:
        yield server


def call(
    jwks: JwksServer,
    route: str,
    body: bytes,
    authorization: str | None,
    system: str | None = SYSTEM_TOKEN,
) -> ForgeCall:
    async def scenario() -> ForgeCall:
        async with JwksCache(jwks.url) as cache:
            return await verify_call(
                route,
                authorization=authorization,
                system_token_header=system,
                body=body,
                app_id=APP_ID,
                keys=cache,
                leeway=LEEWAY,
                now=NOW,
            )

    return asyncio.run(scenario())


def test_an_event_call(jwks: JwksServer, forge_key: SigningKey) -> None:
    body = json.dumps({"payload": {"eventType": "avi:jira:created:issue", "issue": {}}}).encode()
    verified = call(jwks, "events", body, f"Bearer {forge_key.sign(fit_claims())}")
    assert verified.event is not None and verified.event.name == "avi:jira:created:issue"
    assert not verified.lifecycle
    assert verified.system_token is not None and verified.system_token.expires_at == NOW + 3600
    site = verified.site
    assert (site.installation_id, site.cloud_id) == (INSTALLATION, CLOUD_ID)
    assert site.environment == "PRODUCTION" and site.app_version == "2.0.0"


def test_a_lifecycle_event_call(jwks: JwksServer, forge_key: SigningKey) -> None:
    body = json.dumps({"eventType": "avi:forge:upgraded:app", "id": "x"}).encode()
    assert call(jwks, "events", body, f"Bearer {forge_key.sign(fit_claims())}").lifecycle


@pytest.mark.parametrize("route", ["tick", "uninstall"])
def test_tick_and_uninstall_carry_no_delivery(
    jwks: JwksServer, forge_key: SigningKey, route: str
) -> None:
    verified = call(jwks, route, b"", f"Bearer {forge_key.sign(fit_claims())}", system=None)
    assert verified.event is None and verified.system_token is None
    assert verified.route == route


def test_the_evidence_never_holds_a_token(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = forge_key.sign(fit_claims())
    body = json.dumps({"eventType": "avi:jira:deleted:issue"}).encode()
    evidence = call(jwks, "events", body, f"Bearer {token}").evidence()
    text = json.dumps(evidence)
    assert token not in text and token.split(".")[2] not in text
    assert SYSTEM_TOKEN not in text
    assert evidence["kid"] == forge_key.kid
    assert evidence["claims"]["app"]["installationId"] == INSTALLATION
    assert evidence["system_token"] == {"expires_at": NOW + 3600}


def test_the_token_is_judged_before_the_body(jwks: JwksServer) -> None:
    stranger = make_signing_key("not-in-the-set")
    with pytest.raises(UnknownKey):
        call(jwks, "events", b"not json", f"Bearer {stranger.sign(fit_claims())}")
    with pytest.raises(MissingInvocationToken):
        call(jwks, "tick", b"", None)


def test_an_unknown_route_is_a_programming_error(jwks: JwksServer) -> None:
    with pytest.raises(ValueError, match="unknown Forge route"):
        call(jwks, "webhooks", b"", "Bearer x")
