"""Forge installations on both databases: details, ticks, uninstall, and the system token at rest."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from addon.forge import SILENT_AFTER, ForgeInstallations, SiteDetails
from addon.store import DecryptionError, SecretBox, Store, generate_key, open_store

KEY_A = generate_key()
KEY_B = generate_key()
INSTALLATION = "ari:cloud:ecosystem::installation/2f9d3c1e-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"
SITE = SiteDetails(
    installation_id=INSTALLATION,
    api_base_url=f"https://api.atlassian.com/ex/jira/{CLOUD_ID}",
    cloud_id=CLOUD_ID,
    site_url="https://example.atlassian.net",
    app_version="2.0.0",
    environment="PRODUCTION",
)
NOW = 1_800_000_000.0
TOKEN = "system-token-" + "x" * 300


def raw_key(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_installations(
    url: str,
    scenario: Callable[[ForgeInstallations, Store], Awaitable[Any]],
    keys: tuple[bytes, ...] = (raw_key(KEY_A),),
) -> Any:
    async def go() -> Any:
        store = await open_store(url, keys=keys)
        try:
            return await scenario(ForgeInstallations(store.db, store.box), store)
        finally:
            await store.db.disconnect()

    return asyncio.run(go())


def test_an_installation_is_recorded_with_its_site(database_url: str) -> None:
    async def scenario(installations: ForgeInstallations, store: Store) -> None:
        stored = await installations.seen(SITE, installed=True, now=NOW)
        assert stored.installation_id == INSTALLATION
        assert stored.cloud_id == CLOUD_ID
        assert stored.site_url == "https://example.atlassian.net"
        assert stored.api_base_url == SITE.api_base_url
        assert stored.app_version == "2.0.0"
        assert stored.environment == "PRODUCTION"
        assert stored.installed_at == NOW
        assert stored.updated_at == NOW
        assert stored.last_tick_at is None
        assert not stored.uninstalled
        assert await installations.all() == [stored]
        assert await installations.for_cloud(CLOUD_ID) == [stored]

    with_installations(database_url, scenario)


def test_an_upgrade_updates_details_and_keeps_what_it_does_not_say(database_url: str) -> None:
    async def scenario(installations: ForgeInstallations, store: Store) -> None:
        await installations.seen(SITE, installed=True, now=NOW)
        upgraded = SiteDetails(INSTALLATION, SITE.api_base_url, app_version="3.0.0")
        stored = await installations.seen(upgraded, installed=True, now=NOW + 10)
        assert stored.app_version == "3.0.0"
        assert stored.site_url == SITE.site_url
        assert stored.cloud_id == CLOUD_ID
        assert stored.installed_at == NOW
        assert stored.updated_at == NOW + 10

    with_installations(database_url, scenario)


def test_a_tick_sets_the_last_tick_and_silence_follows_three_hours_without(
    database_url: str,
) -> None:
    async def scenario(installations: ForgeInstallations, store: Store) -> None:
        await installations.seen(SITE, installed=True, now=NOW)
        ticked = await installations.seen(SITE, tick=True, now=NOW + 3600)
        assert ticked.last_tick_at == NOW + 3600
        event = await installations.seen(SITE, now=NOW + 3700)
        assert event.last_tick_at == NOW + 3600  # an event is not a tick
        assert not event.silent(now=NOW + 3600 + SILENT_AFTER - 1)
        assert event.silent(now=NOW + 3600 + SILENT_AFTER)

    with_installations(database_url, scenario)


def test_the_system_token_is_encrypted_at_rest_and_read_back(database_url: str) -> None:
    async def scenario(installations: ForgeInstallations, store: Store) -> None:
        await installations.seen(SITE, now=NOW)
        assert await installations.save_system_token(INSTALLATION, TOKEN, NOW + 3600)
        row = await store.db.fetch_one(
            "SELECT system_token FROM forge_installations WHERE installation_id = ?",
            (INSTALLATION,),
        )
        assert row is not None
        assert TOKEN not in row["system_token"]
        assert row["system_token"].startswith("enc:v1:")
        assert await installations.system_token(INSTALLATION, now=NOW) == TOKEN
        assert await installations.system_token(INSTALLATION, now=NOW + 3600) is None  # expired
        stored = await installations.get(INSTALLATION)
        assert stored is not None and stored.system_token_expires_at == NOW + 3600
        assert TOKEN not in repr(stored)

    with_installations(database_url, scenario)


def test_a_token_is_replaced_only_by_a_newer_one(database_url: str) -> None:
    async def scenario(installations: ForgeInstallations, store: Store) -> None:
        await installations.seen(SITE, now=NOW)
        assert await installations.save_system_token(INSTALLATION, "newer", NOW + 3600)
        assert not await installations.save_system_token(INSTALLATION, "older", NOW + 1800)
        assert not await installations.save_system_token(INSTALLATION, "same", NOW + 3600)
        assert await installations.system_token(INSTALLATION, now=NOW) == "newer"
        assert await installations.save_system_token(INSTALLATION, "newest", NOW + 7200)
        assert await installations.system_token(INSTALLATION, now=NOW) == "newest"

    with_installations(database_url, scenario)


def test_uninstall_erases_the_token_and_only_an_install_revives(database_url: str) -> None:
    async def scenario(installations: ForgeInstallations, store: Store) -> None:
        await installations.seen(SITE, installed=True, now=NOW)
        await installations.save_system_token(INSTALLATION, TOKEN, NOW + 3600)
        assert await installations.mark_uninstalled(INSTALLATION, now=NOW + 5)
        assert not await installations.mark_uninstalled("unknown", now=NOW + 5)
        gone = await installations.get(INSTALLATION)
        assert gone is not None and gone.uninstalled and gone.uninstalled_at == NOW + 5
        assert not gone.silent(now=NOW + 10 * SILENT_AFTER)
        assert await installations.system_token(INSTALLATION, now=NOW) is None
        row = await store.db.fetch_one(
            "SELECT system_token FROM forge_installations WHERE installation_id = ?",
            (INSTALLATION,),
        )
        assert row is not None and row["system_token"] is None
        # a late event with a token neither revives it nor stores the token
        late = await installations.seen(SITE, now=NOW + 6)
        assert late.uninstalled
        assert not await installations.save_system_token(INSTALLATION, TOKEN, NOW + 9000)
        revived = await installations.seen(SITE, installed=True, now=NOW + 7)
        assert not revived.uninstalled and revived.uninstalled_at is None

    with_installations(database_url, scenario)


def test_tokens_follow_key_rotation_and_an_unknown_key_is_named(database_url: str) -> None:
    async def first(installations: ForgeInstallations, store: Store) -> None:
        await installations.seen(SITE, now=NOW)
        await installations.save_system_token(INSTALLATION, TOKEN, NOW + 3600)

    async def rotate(installations: ForgeInstallations, store: Store) -> None:
        assert await installations.reencrypt() == 1
        assert await installations.reencrypt() == 0
        assert await installations.system_token(INSTALLATION, now=NOW) == TOKEN

    async def only_new(installations: ForgeInstallations, store: Store) -> None:
        await installations.check_secrets()
        assert await installations.system_token(INSTALLATION, now=NOW) == TOKEN

    async def lost(installations: ForgeInstallations, store: Store) -> None:
        with pytest.raises(DecryptionError, match=INSTALLATION):
            await installations.check_secrets()
        with pytest.raises(DecryptionError, match=INSTALLATION):
            await installations.system_token(INSTALLATION, now=NOW)

    with_installations(database_url, first, keys=(raw_key(KEY_A),))
    with_installations(database_url, rotate, keys=(raw_key(KEY_B), raw_key(KEY_A)))
    with_installations(database_url, only_new, keys=(raw_key(KEY_B),))
    with_installations(database_url, lost, keys=(raw_key(generate_key()),))


def test_a_token_copied_to_another_installation_does_not_decrypt() -> None:
    box = SecretBox((raw_key(KEY_A),))
    sealed = box.encrypt(TOKEN, INSTALLATION)
    with pytest.raises(DecryptionError):
        box.decrypt(sealed, "ari:cloud:ecosystem::installation/another")


def test_hostile_ids_find_nothing(database_url: str) -> None:
    async def scenario(installations: ForgeInstallations, store: Store) -> None:
        assert await installations.get("bad\x00id") is None
        assert await installations.get("\ud800") is None

    with_installations(database_url, scenario)


def test_keys_rotate_reencrypts_system_tokens(tmp_path: Any) -> None:
    from tests.cli.test_cli import run

    url = f"sqlite:///{tmp_path}/addon.db"

    async def first(installations: ForgeInstallations, store: Store) -> None:
        await installations.seen(SITE, now=NOW)
        await installations.save_system_token(INSTALLATION, TOKEN, NOW + 3600)

    async def readable(installations: ForgeInstallations, store: Store) -> None:
        assert await installations.system_token(INSTALLATION, now=NOW) == TOKEN

    with_installations(url, first, keys=(raw_key(KEY_A),))
    rotated = run(
        "keys",
        "rotate",
        env={"DATABASE_URL": url, "ADDON_ENCRYPTION_KEY": f"{KEY_B},{KEY_A}"},
        cwd=tmp_path,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 secret(s)" in rotated.stdout
    with_installations(url, readable, keys=(raw_key(KEY_B),))
