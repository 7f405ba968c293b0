"""Tenants on both databases: install, rotation, uninstall, ordering, and secrets at rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from addon.store import (
    DecryptionError,
    Store,
    Superseded,
    TenantState,
    generate_key,
    open_store,
)
from addon.store._crypto import SecretBox

KEY_A = generate_key()
KEY_B = generate_key()


def raw_key(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload(client_key: str = "client-1", secret: str = "S" * 400) -> dict[str, Any]:
    return {
        "key": "test-addon",
        "clientKey": client_key,
        "sharedSecret": secret,
        "baseUrl": "https://example.atlassian.net",
        "displayUrl": "https://jira.example.com",
        "productType": "jira",
        "description": "Atlassian JIRA",
        "oauthClientId": "oauth-1",
        "installationId": "ari:cloud:ecosystem::installation/1",
        "eventType": "installed",
    }


def with_store(
    url: str, scenario: Callable[[Store], Awaitable[Any]], keys: tuple[bytes, ...] = ()
) -> Any:
    async def go() -> Any:
        store = await open_store(url, keys=keys)
        try:
            return await scenario(store)
        finally:
            await store.db.disconnect()

    return asyncio.run(go())


async def stored_secret(store: Store, client_key: str) -> str:
    row = await store.db.fetch_one(
        "SELECT shared_secret FROM tenants WHERE client_key = ?", (client_key,)
    )
    assert row is not None
    return str(row["shared_secret"])


def test_install_keeps_details_but_not_the_secret_in_payload(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        tenant = await store.tenants.save_installation(payload(), iat=10)
        assert tenant.state is TenantState.INSTALLED
        assert tenant.shared_secret == "S" * 400
        assert tenant.display_url == "https://jira.example.com"
        assert tenant.oauth_client_id == "oauth-1"
        assert tenant.installation_id == "ari:cloud:ecosystem::installation/1"
        assert "sharedSecret" not in tenant.payload
        assert tenant.payload["eventType"] == "installed"

    with_store(database_url, scenario)


def test_reinstall_replaces_secret_and_revives(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        await store.tenants.save_installation(payload(secret="old"), iat=10)
        assert await store.tenants.mark_uninstalled("client-1")
        assert await store.tenants.mark_uninstalled("client-1")
        gone = await store.tenants.get("client-1")
        assert gone is not None and gone.shared_secret is None
        assert gone.state is TenantState.UNINSTALLED
        again = await store.tenants.save_installation(payload(secret="new"), iat=20)
        assert again.shared_secret == "new"
        assert again.state is TenantState.INSTALLED
        assert again.uninstalled_at is None

    with_store(database_url, scenario)


def test_state_changes_ordered_by_iat_and_never_revive_uninstalled(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        await store.tenants.save_installation(payload(), iat=100)
        assert await store.tenants.set_state("client-1", TenantState.ENABLED, iat=105)
        assert not await store.tenants.set_state("client-1", TenantState.DISABLED, iat=103)
        tenant = await store.tenants.get("client-1")
        assert tenant is not None and tenant.state is TenantState.ENABLED
        assert not await store.tenants.set_state("client-1", TenantState.DISABLED, iat=99)
        await store.tenants.mark_uninstalled("client-1")
        assert not await store.tenants.set_state("client-1", TenantState.ENABLED, iat=500)
        tenant = await store.tenants.get("client-1")
        assert tenant is not None and tenant.state is TenantState.UNINSTALLED

    with_store(database_url, scenario)


def test_lifecycle_changes_signed_before_the_last_one_are_superseded(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        await store.tenants.save_installation(payload(secret="first"), iat=100)
        assert await store.tenants.set_state("client-1", TenantState.ENABLED, iat=100)
        again = await store.tenants.save_installation(payload(secret="same-second"), iat=100)
        assert again.shared_secret == "same-second"
        assert await store.tenants.set_state("client-1", TenantState.ENABLED, iat=110)
        with pytest.raises(Superseded):
            await store.tenants.save_installation(payload(secret="older"), iat=105)
        with pytest.raises(Superseded):
            await store.tenants.mark_uninstalled("client-1", iat=109)
        tenant = await store.tenants.get("client-1")
        assert tenant is not None and tenant.shared_secret == "same-second"
        assert tenant.state is TenantState.ENABLED and tenant.state_iat == 110
        assert not await store.tenants.mark_uninstalled("client-2", iat=200)

    with_store(database_url, scenario)


def test_an_uninstall_is_final_against_anything_signed_before_or_with_it(
    database_url: str,
) -> None:
    async def scenario(store: Store) -> None:
        await store.tenants.save_installation(payload(secret="jira"), iat=100)
        assert await store.tenants.mark_uninstalled("client-1", iat=120)
        for iat in (100, 119, 120):
            with pytest.raises(Superseded):
                await store.tenants.save_installation(payload(secret="replayed"), iat=iat)
        assert await store.tenants.mark_uninstalled("client-1", iat=110)
        assert await store.tenants.mark_uninstalled("client-1", iat=130)
        with pytest.raises(Superseded):
            await store.tenants.save_installation(payload(secret="replayed"), iat=130)
        tenant = await store.tenants.get("client-1")
        assert tenant is not None and tenant.state is TenantState.UNINSTALLED
        assert tenant.shared_secret is None and tenant.state_iat == 130
        back = await store.tenants.save_installation(payload(secret="reinstalled"), iat=131)
        assert back.state is TenantState.INSTALLED and back.shared_secret == "reinstalled"

    with_store(database_url, scenario)


def test_secret_encrypted_at_rest_round_trip(database_url: str) -> None:
    keys = (raw_key(KEY_A),)

    async def scenario(store: Store) -> None:
        await store.tenants.save_installation(payload(secret="top-secret"), iat=1)
        raw = await stored_secret(store, "client-1")
        assert raw.startswith("enc:v1:")
        assert "top-secret" not in raw
        tenant = await store.tenants.get("client-1")
        assert tenant is not None and tenant.shared_secret == "top-secret"

    with_store(database_url, scenario, keys)


def test_wrong_key_is_a_clear_startup_error(database_url: str) -> None:
    async def install(store: Store) -> None:
        await store.tenants.save_installation(payload(), iat=1)

    with_store(database_url, install, (raw_key(KEY_A),))
    with pytest.raises(DecryptionError, match=r"client-1.*ADDON_ENCRYPTION_KEY does not contain"):
        with_store(database_url, lambda store: asyncio.sleep(0), (raw_key(KEY_B),))
    with pytest.raises(DecryptionError, match="client-1"):
        with_store(database_url, lambda store: asyncio.sleep(0), ())


def test_plaintext_rows_are_encrypted_at_startup(database_url: str) -> None:
    async def install(store: Store) -> None:
        await store.tenants.save_installation(payload(secret="was-plain"), iat=1)
        assert await stored_secret(store, "client-1") == "was-plain"

    async def check(store: Store) -> None:
        assert (await stored_secret(store, "client-1")).startswith("enc:v1:")
        tenant = await store.tenants.get("client-1")
        assert tenant is not None and tenant.shared_secret == "was-plain"

    with_store(database_url, install)
    with_store(database_url, check, (raw_key(KEY_A),))


def test_key_rotation_reencrypts_with_the_first_key(database_url: str) -> None:
    async def install(store: Store) -> None:
        await store.tenants.save_installation(payload(secret="rotate-me"), iat=1)

    async def rotate(store: Store) -> str:
        assert await store.tenants.reencrypt() == 1
        assert await store.tenants.reencrypt() == 0
        return await stored_secret(store, "client-1")

    async def read(store: Store) -> str | None:
        tenant = await store.tenants.get("client-1")
        return None if tenant is None else tenant.shared_secret

    with_store(database_url, install, (raw_key(KEY_A),))
    rotated = with_store(database_url, rotate, (raw_key(KEY_B), raw_key(KEY_A)))
    assert rotated.startswith("enc:v1:")
    assert with_store(database_url, read, (raw_key(KEY_B),)) == "rotate-me"


def test_a_row_copied_to_another_tenant_does_not_decrypt() -> None:
    box = SecretBox((raw_key(KEY_A),))
    sealed = box.encrypt("secret", "tenant-a")
    assert box.decrypt(sealed, "tenant-a") == "secret"
    with pytest.raises(DecryptionError, match="does not decrypt"):
        box.decrypt(sealed, "tenant-b")


def test_purge_removes_tenant_and_its_deliveries(database_url: str) -> None:
    import time

    from addon.store import DeliveryStatus, NewDelivery

    async def scenario(store: Store) -> None:
        await store.start()
        await store.tenants.save_installation(payload(), iat=1)
        for index in range(3):
            await store.writer.record(
                NewDelivery(
                    received_at=time.time(),
                    origin_kind="connect",
                    origin="client-1",
                    status=DeliveryStatus.ACCEPTED,
                    webhook_id=f"p{index}",
                    search_keys=("PRJ-1",),
                )
            )
        assert await store.tenants.purge("client-1") == 3
        assert await store.tenants.get("client-1") is None
        assert await store.db.fetch_all("SELECT * FROM delivery_keys") == []
        await store.writer.stop()

    with_store(database_url, scenario)


FORGE_1 = "ari:cloud:ecosystem::installation/1"
FORGE_2 = "ari:cloud:ecosystem::installation/2"


def test_every_installation_id_a_tenant_had_finds_it(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        first = await store.tenants.save_installation(payload(), iat=10)
        assert first.installed_through == "forge"
        await store.tenants.save_installation(payload(), iat=11)  # the same id again
        await store.tenants.save_installation({**payload(), "installationId": FORGE_2}, iat=12)
        other = {**payload("client-2"), "installationId": "ari:cloud:ecosystem::installation/3"}
        await store.tenants.save_installation(other, iat=13)
        tenant = await store.tenants.get("client-1")
        assert tenant is not None and tenant.installation_id == FORGE_2
        assert await store.tenants.installation_ids("client-1") == (FORGE_1, FORGE_2)
        for installation_id in (FORGE_1, FORGE_2):
            found = await store.tenants.for_installation(installation_id)
            assert found is not None and found.client_key == "client-1"
        found = await store.tenants.for_installation("ari:cloud:ecosystem::installation/3")
        assert found is not None and found.client_key == "client-2"
        assert await store.tenants.for_installation("ari:cloud:ecosystem::installation/4") is None
        assert await store.tenants.for_installation("bad\x00id") is None
        await store.tenants.purge("client-1")
        assert await store.tenants.installation_ids("client-1") == ()
        assert await store.tenants.for_installation(FORGE_1) is None

    with_store(database_url, scenario)


def test_a_descriptor_install_has_no_installation_id(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        plain = {k: v for k, v in payload().items() if k != "installationId"}
        tenant = await store.tenants.save_installation(plain, iat=10)
        assert tenant.installation_id is None
        assert tenant.installed_through == "descriptor"
        assert tenant.active
        assert await store.tenants.installation_ids("client-1") == ()
        # Installed through Forge later: the id is remembered from then on.
        tenant = await store.tenants.save_installation(payload(), iat=11)
        assert tenant.installed_through == "forge"
        assert await store.tenants.installation_ids("client-1") == (FORGE_1,)

    with_store(database_url, scenario)
