"""Signed install and the other lifecycle callbacks, through a real server, on both databases,
installed both ways: from the descriptor, and through Forge (Connect on Forge: an installationId in
the `installed` payload, and no `enabled` or `disabled` ever after)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from addon.auth import encode_hs256, encode_rs256, query_string_hash
from addon.simulator import SimulatedSite
from addon.store import TenantState, open_store
from tests.support.connect import ADDON_KEY, Jira


@pytest.fixture(params=["descriptor", "forge"])
def jira(request: pytest.FixtureRequest, jira: Jira) -> Jira:
    """The module's server, with sites installed from the descriptor or through Forge."""
    return dataclasses.replace(jira, forge=request.param == "forge")


def refused(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    assert response.json()["reason"]
    if status == 401:
        assert response.headers["www-authenticate"] == f'JWT realm="{ADDON_KEY}"'


def test_signed_install_creates_tenant(jira: Jira) -> None:
    site = jira.install()
    tenant = jira.tenant(site.client_key)
    assert tenant is not None
    assert tenant.state is TenantState.INSTALLED
    assert tenant.shared_secret == site.shared_secret
    assert tenant.base_url == site.base_url
    assert "sharedSecret" not in tenant.payload
    assert tenant.installation_id == site.installation_id
    assert tenant.installed_through == ("forge" if jira.forge else "descriptor")


def test_unsigned_install_refused(jira: Jira) -> None:
    site = jira.site()
    refused(jira.lifecycle(site, "installed", signed=False), 401, "missing_token")
    assert jira.tenant(site.client_key) is None


def test_hs256_install_refused(jira: Jira) -> None:
    site = jira.site()
    token = site.token(addon_base_url=jira.base_url, target="/installed")
    refused(jira.lifecycle(site, "installed", token=token), 401, "algorithm_not_allowed")
    assert jira.tenant(site.client_key) is None


def install_claims(jira: Jira, site: SimulatedSite, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": site.client_key,
        "aud": [jira.base_url],
        "iat": now,
        "exp": now + 180,
        "qsh": query_string_hash("POST", "/installed", jira.base_url),
    }
    claims.update(changes)
    return claims


def test_install_signed_with_wrong_key_refused(jira: Jira) -> None:
    site, attacker = jira.site(), SimulatedSite.generate()
    token = encode_rs256(install_claims(jira, site), attacker.private_key_pem, site.kid)
    refused(jira.lifecycle(site, "installed", token=token), 401, "invalid_signature")


def test_install_with_wrong_audience_refused(jira: Jira) -> None:
    site = jira.site()
    for audience in (
        "https://elsewhere.example.com",
        jira.base_url + ".attacker.net",
        jira.base_url + "/other",
        "xx" + jira.base_url,
    ):
        token = encode_rs256(
            install_claims(jira, site, aud=[audience]), site.private_key_pem, site.kid
        )
        refused(jira.lifecycle(site, "installed", token=token), 401, "audience_mismatch")
    assert jira.tenant(site.client_key) is None


def test_install_audience_trailing_slash_accepted(jira: Jira) -> None:
    site = jira.site()
    claims = install_claims(jira, site, aud=jira.base_url + "/")
    token = encode_rs256(claims, site.private_key_pem, site.kid)
    assert jira.lifecycle(site, "installed", token=token).status_code == 204


def test_install_issuer_unlike_client_key_refused(jira: Jira) -> None:
    site, other = jira.site(), jira.site()
    token = encode_rs256(install_claims(jira, other), site.private_key_pem, site.kid)
    refused(jira.lifecycle(site, "installed", token=token), 401, "issuer_mismatch")


def test_expired_install_refused(jira: Jira) -> None:
    site = jira.site()
    past = int(time.time()) - 3600
    token = encode_rs256(
        install_claims(jira, site, iat=past, exp=past + 180), site.private_key_pem, site.kid
    )
    refused(jira.lifecycle(site, "installed", token=token), 401, "token_expired")


def test_install_with_wrong_qsh_refused(jira: Jira) -> None:
    site = jira.site()
    wrong = query_string_hash("POST", "/uninstalled", jira.base_url)
    token = encode_rs256(install_claims(jira, site, qsh=wrong), site.private_key_pem, site.kid)
    response = jira.lifecycle(site, "installed", token=token)
    refused(response, 401, "qsh_mismatch")
    assert "POST&/installed&" in response.json()["reason"]


def test_alg_none_refused(jira: Jira) -> None:
    import base64
    import json

    def segment(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    site = jira.site()
    token = f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': site.kid})}.{segment(install_claims(jira, site))}."
    refused(jira.lifecycle(site, "installed", token=token), 401, "algorithm_not_allowed")


def test_unknown_kid_is_401_and_key_server_down_is_503(jira: Jira) -> None:
    site = SimulatedSite.generate()
    refused(jira.lifecycle(site, "installed"), 401, "unknown_key")
    site = jira.site()
    jira.keys.status = 500
    try:
        response = jira.lifecycle(site, "installed")
    finally:
        jira.keys.status = None
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "key_server_unavailable"


def test_install_payload_problems_are_400(jira: Jira) -> None:
    site = jira.site()
    for payload, code in (
        ({**site.lifecycle_payload("installed", ADDON_KEY), "key": "someone-else"}, "wrong_addon"),
        (
            {
                k: v
                for k, v in site.lifecycle_payload("installed", ADDON_KEY).items()
                if k != "sharedSecret"
            },
            "invalid_payload",
        ),
    ):
        refused(jira.lifecycle(site, "installed", payload=payload), 400, code)


def test_reinstall_rotates_secret(jira: Jira) -> None:
    site = jira.install()
    target = "/webhooks/jira/issue-updated?issueKey=PRJ-1"
    assert jira.webhook(site, target, {"webhookEvent": "jira:issue_updated"}).status_code == 204
    rotated = site.with_secret(SimulatedSite.new_secret())
    # Signed a second later: the same token with another body would be a replay.
    later = rotated.install_token(
        addon_base_url=jira.base_url, target="/installed", now=time.time() + 1
    )
    assert jira.lifecycle(rotated, "installed", token=later).status_code == 204
    refused(
        jira.webhook(site, target, {"webhookEvent": "jira:issue_updated"}), 401, "invalid_signature"
    )
    assert jira.webhook(rotated, target, {"webhookEvent": "jira:issue_updated"}).status_code == 204


def test_token_for_another_tenant_refused(jira: Jira) -> None:
    first, second = jira.install(), jira.install()
    now = int(time.time())
    claims = {
        "iss": second.client_key,
        "iat": now,
        "exp": now + 180,
        "qsh": query_string_hash("POST", "/enabled", jira.base_url),
    }
    token = encode_hs256(claims, first.shared_secret)
    refused(jira.lifecycle(second, "enabled", token=token), 401, "invalid_signature")


def test_enabled_disabled_ordered_by_iat(jira: Jira) -> None:
    site = jira.install()
    now = int(time.time())
    newer = site.token(addon_base_url=jira.base_url, target="/enabled", now=now + 2)
    older = site.token(addon_base_url=jira.base_url, target="/disabled", now=now + 1)
    assert jira.lifecycle(site, "enabled", token=newer).status_code == 204
    assert jira.lifecycle(site, "disabled", token=older).status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.ENABLED
    later = site.token(addon_base_url=jira.base_url, target="/disabled", now=now + 3)
    assert jira.lifecycle(site, "disabled", token=later).status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.DISABLED


def test_uninstall_is_final_and_idempotent(jira: Jira) -> None:
    site = jira.install()
    assert jira.lifecycle(site, "uninstalled").status_code == 204
    assert jira.lifecycle(site, "uninstalled").status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None
    assert tenant.state is TenantState.UNINSTALLED
    assert tenant.shared_secret is None
    # A disabled that races the uninstall, signed or not, changes nothing and is answered 204.
    assert jira.lifecycle(site, "disabled").status_code == 204
    assert jira.lifecycle(site, "disabled", signed=False).status_code == 204
    # An enabled cannot revive it: the secret is gone.
    refused(jira.lifecycle(site, "enabled"), 401, "unknown_tenant")
    refused(
        jira.webhook(site, "/webhooks/jira/issue-updated", {"webhookEvent": "jira:issue_updated"}),
        401,
        "unknown_tenant",
    )
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.UNINSTALLED
    # A re-install is signed after the uninstall (one signed in the same second is refused).
    later = site.install_token(
        addon_base_url=jira.base_url, target="/installed", now=time.time() + 1
    )
    assert jira.lifecycle(site, "installed", token=later).status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.INSTALLED


def test_unsigned_uninstall_and_disabled_for_active_tenant_refused(jira: Jira) -> None:
    site = jira.install()
    refused(jira.lifecycle(site, "uninstalled", signed=False), 401, "missing_token")
    refused(jira.lifecycle(site, "disabled", signed=False), 401, "missing_token")
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.INSTALLED


def test_secrets_never_in_log(jira: Jira) -> None:
    site = jira.install()
    token = site.token(addon_base_url=jira.base_url, target="/webhooks/jira/issue-updated")
    jira.webhook(site, "/webhooks/jira/issue-updated?jwt=" + token, {"webhookEvent": "x"}, token="")
    log = jira.server.log()
    assert site.shared_secret not in log
    assert token not in log
    assert token.split(".")[2] not in log
    assert "jwt=***" in log


def installation_ids(jira: Jira, client_key: str) -> tuple[str, ...]:
    async def read() -> tuple[str, ...]:
        store = await open_store(jira.database_url, encrypt_existing=False)
        try:
            return await store.tenants.installation_ids(client_key)
        finally:
            await store.db.disconnect()

    return asyncio.run(read())


def test_a_forge_install_is_active_without_enabled(jira: Jira) -> None:
    site = dataclasses.replace(jira, forge=True).install()
    assert site.installation_id is not None
    tenant = jira.tenant(site.client_key)
    assert tenant is not None
    assert tenant.installation_id == site.installation_id
    assert tenant.installed_through == "forge"
    assert tenant.state is TenantState.INSTALLED and tenant.active
    # No enabled comes: the first webhook is accepted and kept, straight after installed.
    target = "/webhooks/jira/issue-updated?issueKey=PRJ-1"
    identifier = f"forge-{site.client_key}"
    response = jira.webhook(
        site, target, {"webhookEvent": "jira:issue_updated"}, identifier=identifier
    )
    assert response.status_code == 204, response.text
    accepted = [d for d in jira.deliveries(status="accepted") if d.webhook_id == identifier]
    assert [d.origin for d in accepted] == [site.client_key]
    assert installation_ids(jira, site.client_key) == (site.installation_id,)


def test_a_reinstall_with_a_new_installation_id_keeps_the_earlier_one(jira: Jira) -> None:
    site = dataclasses.replace(jira, forge=True).install()
    again = dataclasses.replace(
        site.with_secret(SimulatedSite.new_secret()),
        installation_id=SimulatedSite.new_installation_id(),
    )
    # Signed a second later: the same token with another body would be a replay.
    later = again.install_token(
        addon_base_url=jira.base_url, target="/installed", now=time.time() + 1
    )
    assert jira.lifecycle(again, "installed", token=later).status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.installation_id == again.installation_id
    assert tenant.shared_secret == again.shared_secret
    assert installation_ids(jira, site.client_key) == (site.installation_id, again.installation_id)


def test_a_bare_installation_uuid_is_stored_as_its_ari(jira: Jira) -> None:
    site = jira.site()
    bare = "3f2c1d4e-5b6a-4789-8abc-def012345678"
    payload = {**site.lifecycle_payload("installed", ADDON_KEY), "installationId": bare.upper()}
    assert jira.lifecycle(site, "installed", payload=payload).status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None
    assert tenant.installation_id == f"ari:cloud:ecosystem::installation/{bare}"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "installation-1",
        "ari:cloud:ecosystem::app/3f2c1d4e-5b6a-4789-8abc-def012345678",
        7,
        "x" * 5000,
    ],
)
def test_an_installation_id_that_is_not_one_is_400(jira: Jira, value: object) -> None:
    site = jira.site()
    payload = {**site.lifecycle_payload("installed", ADDON_KEY), "installationId": value}
    response = jira.lifecycle(site, "installed", payload=payload)
    refused(response, 400, "invalid_payload")
    assert (
        "installationId must be ari:cloud:ecosystem::installation/<uuid>"
        in response.json()["reason"]
    )
    assert jira.tenant(site.client_key) is None


def test_time_claims_out_of_bounds_are_401_with_a_reason(jira: Jira) -> None:
    """An iat of -1e300 once failed the store (500 on SQLite, 503 forever on PostgreSQL)."""
    site = jira.install()
    now = int(time.time())
    qsh = query_string_hash("POST", "/enabled", jira.base_url)
    for times, code in (
        ({"iat": -1e300, "exp": now + 180}, "time_claim_out_of_range"),
        ({"iat": now, "exp": 1e308}, "time_claim_out_of_range"),
        ({"iat": now, "exp": now + 86_400}, "token_lifetime_too_long"),
    ):
        token = encode_hs256({"iss": site.client_key, "qsh": qsh, **times}, site.shared_secret)
        refused(jira.lifecycle(site, "enabled", token=token), 401, code)
    claims = install_claims(jira, site, iat=-1e300)
    token = encode_rs256(claims, site.private_key_pem, site.kid)
    refused(jira.lifecycle(site, "installed", token=token), 401, "time_claim_out_of_range")
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.INSTALLED


def signed_install(jira: Jira, site: SimulatedSite, event: str, *, at: float) -> str:
    return site.install_token(addon_base_url=jira.base_url, target=f"/{event}", now=at)


def attacker_payload(site: SimulatedSite) -> dict[str, object]:
    return {
        **site.lifecycle_payload("installed", ADDON_KEY),
        "sharedSecret": SimulatedSite.new_secret(),
        "baseUrl": "https://attacker.example.com",
    }


def test_install_token_replayed_with_another_body_refused(jira: Jira) -> None:
    site = jira.site()
    token = signed_install(jira, site, "installed", at=time.time())
    assert jira.lifecycle(site, "installed", token=token).status_code == 204
    response = jira.lifecycle(site, "installed", token=token, payload=attacker_payload(site))
    refused(response, 401, "token_replayed")
    assert site.shared_secret not in response.text
    tenant = jira.tenant(site.client_key)
    assert tenant is not None
    assert tenant.shared_secret == site.shared_secret
    assert tenant.base_url == site.base_url


def test_install_retried_by_jira_with_the_same_token_and_body_accepted(jira: Jira) -> None:
    site = jira.site()
    token = signed_install(jira, site, "installed", at=time.time())
    for _ in range(3):
        assert jira.lifecycle(site, "installed", token=token).status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.shared_secret == site.shared_secret


def test_installed_and_enabled_in_the_same_second_accepted(jira: Jira) -> None:
    site = jira.site()
    now = int(time.time())
    install = signed_install(jira, site, "installed", at=now)
    assert jira.lifecycle(site, "installed", token=install).status_code == 204
    enable = site.token(addon_base_url=jira.base_url, target="/enabled", now=now)
    assert jira.lifecycle(site, "enabled", token=enable).status_code == 204
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.ENABLED


def test_install_replayed_after_uninstall_refused(jira: Jira) -> None:
    site = jira.site()
    now = int(time.time())
    install = signed_install(jira, site, "installed", at=now - 1)
    assert jira.lifecycle(site, "installed", token=install).status_code == 204
    uninstall = signed_install(jira, site, "uninstalled", at=now)
    assert jira.lifecycle(site, "uninstalled", token=uninstall).status_code == 204
    # The captured install, with its own body or the attacker's, does not bring the tenant back.
    refused(jira.lifecycle(site, "installed", token=install), 401, "token_superseded")
    response = jira.lifecycle(site, "installed", token=install, payload=attacker_payload(site))
    refused(response, 401, "token_replayed")
    # Nor does an install signed in the same second as the uninstall.
    same_second = signed_install(jira, site, "installed", at=now)
    refused(jira.lifecycle(site, "installed", token=same_second), 401, "token_superseded")
    tenant = jira.tenant(site.client_key)
    assert tenant is not None
    assert tenant.state is TenantState.UNINSTALLED and tenant.shared_secret is None
    # Jira retrying the uninstall changes nothing and is answered 204.
    assert jira.lifecycle(site, "uninstalled", token=uninstall).status_code == 204


def test_uninstall_replayed_after_a_reinstall_refused(jira: Jira) -> None:
    site = jira.site()
    now = int(time.time())
    assert (
        jira.lifecycle(
            site, "installed", token=signed_install(jira, site, "installed", at=now - 2)
        ).status_code
        == 204
    )
    uninstall = signed_install(jira, site, "uninstalled", at=now - 1)
    assert jira.lifecycle(site, "uninstalled", token=uninstall).status_code == 204
    reinstall = signed_install(jira, site, "installed", at=now)
    assert jira.lifecycle(site, "installed", token=reinstall).status_code == 204
    refused(jira.lifecycle(site, "uninstalled", token=uninstall), 401, "token_superseded")
    tenant = jira.tenant(site.client_key)
    assert tenant is not None and tenant.state is TenantState.INSTALLED
    assert tenant.shared_secret == site.shared_secret


def test_lifecycle_token_replayed_with_another_body_refused_on_enabled(jira: Jira) -> None:
    site = jira.install()
    token = site.token(addon_base_url=jira.base_url, target="/enabled")
    assert jira.lifecycle(site, "enabled", token=token).status_code == 204
    assert jira.lifecycle(site, "enabled", token=token).status_code == 204
    other = {**site.lifecycle_payload("enabled", ADDON_KEY), "description": "forged"}
    refused(jira.lifecycle(site, "enabled", token=token, payload=other), 401, "token_replayed")
