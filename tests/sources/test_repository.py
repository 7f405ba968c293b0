"""The sources repository on SQLite and PostgreSQL: secrets encrypted or hashed, rotation."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from addon.sources import DuplicateSource, SourceError, SourceMode, Sources
from addon.sources._errors import SourceSecretUnavailable
from addon.sources._verify import hash_token
from addon.store import DecryptionError, SecretBox, Store, generate_key, open_store
from addon.store._crypto import PREFIX

T = TypeVar("T")

SECRET = "cloud-secret-" + "q7" * 16
TOKEN = "dc-token-" + "x9" * 16
NEW_SECRET = "rotated-secret-" + "z3" * 16
KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def run(url: str, action: Callable[[Store], Awaitable[T]], *, keys: tuple[bytes, ...] = ()) -> T:
    async def go() -> T:
        store = await open_store(url, keys=keys, encrypt_existing=False)
        try:
            return await action(store)
        finally:
            await store.db.disconnect()

    return asyncio.run(go())


def repo(store: Store) -> Sources:
    return Sources(store.db, store.box)


def test_add_get_list_remove(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        sources = repo(store)
        cloud = await sources.add(
            "jira-cloud", SourceMode.CLOUD_SIGNATURE, SECRET, events=["jira:issue_updated"]
        )
        dc = await sources.add("jira-dc", SourceMode.HEADER_TOKEN, TOKEN, header="X-Jira-Token")
        bearer = await sources.add("automation", SourceMode.BEARER, TOKEN, now=1000.0)
        assert len(cloud.key) >= 32 and len({cloud.key, dc.key, bearer.key}) == 3
        assert cloud.events == ("jira:issue_updated",) and dc.events is None
        assert cloud.header is None and dc.header == "X-Jira-Token" and bearer.header is None
        assert cloud.credential_header == "X-Hub-Signature"
        assert dc.credential_header == "X-Jira-Token"
        assert bearer.credential_header == "Authorization"
        assert bearer.created_at == 1000.0 and bearer.rotated_at is None
        assert await sources.get_by_key(dc.key) == dc
        assert await sources.get_by_name("jira-cloud") == cloud
        assert await sources.get_by_key("nope") is None
        assert await sources.get_by_name("nope") is None
        assert [s.name for s in await sources.list()] == ["automation", "jira-cloud", "jira-dc"]
        assert await sources.remove("jira-dc") is True
        assert await sources.remove("jira-dc") is False
        assert await sources.get_by_key(dc.key) is None
        assert [s.name for s in await sources.list()] == ["automation", "jira-cloud"]

    run(database_url, scenario)


def test_header_token_defaults_to_x_webhook_token(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        source = await repo(store).add("dc", SourceMode.HEADER_TOKEN, TOKEN)
        assert source.header == "X-Webhook-Token"

    run(sqlite_url, scenario)


def test_token_and_bearer_secrets_stored_only_as_hashes(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        sources = repo(store)
        for name, mode in (("dc", SourceMode.HEADER_TOKEN), ("bearer", SourceMode.BEARER)):
            source = await sources.add(name, mode, TOKEN)
            row = await store.db.fetch_one(
                "SELECT * FROM sources WHERE source_key = ?", (source.key,)
            )
            assert row is not None
            assert row["secret"] == "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()
            assert TOKEN not in str(dict(row))
            assert sources.accepted_secrets(source, 0.0) == (hash_token(TOKEN),)

    run(database_url, scenario, keys=(KEY,))


def test_cloud_secret_encrypted_when_a_key_is_set(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        sources = repo(store)
        source = await sources.add("cloud", SourceMode.CLOUD_SIGNATURE, SECRET)
        other = await sources.add("other", SourceMode.CLOUD_SIGNATURE, NEW_SECRET)
        row = await store.db.fetch_one("SELECT * FROM sources WHERE name = ?", ("cloud",))
        assert row is not None
        assert row["secret"].startswith(PREFIX)
        assert SECRET not in str(dict(row))
        assert sources.accepted_secrets(source, 0.0) == (SECRET,)
        await store.db.execute(
            "UPDATE sources SET secret = ? WHERE source_key = ?", (row["secret"], other.key)
        )
        moved = await sources.get_by_key(other.key)
        assert moved is not None
        with pytest.raises(SourceSecretUnavailable) as caught:
            sources.accepted_secrets(moved, 0.0)
        assert caught.value.status == 503
        with pytest.raises(DecryptionError, match="source other"):
            await sources.check_secrets()

    run(database_url, scenario, keys=(KEY,))


def test_cloud_secret_plaintext_without_key_then_reencrypted(database_url: str) -> None:
    async def plain(store: Store) -> str:
        source = await repo(store).add("cloud", SourceMode.CLOUD_SIGNATURE, SECRET)
        await repo(store).add("dc", SourceMode.HEADER_TOKEN, TOKEN)
        row = await store.db.fetch_one("SELECT secret FROM sources WHERE name = 'cloud'")
        assert row is not None and row["secret"] == SECRET
        return source.key

    key = run(database_url, plain)

    async def encrypt(store: Store) -> None:
        sources = repo(store)
        assert await sources.reencrypt(plaintext_only=True) == 1
        assert await sources.reencrypt(plaintext_only=True) == 0
        row = await store.db.fetch_one("SELECT secret FROM sources WHERE name = 'cloud'")
        assert row is not None and row["secret"].startswith(PREFIX)
        source = await sources.get_by_key(key)
        assert source is not None and sources.accepted_secrets(source, 0.0) == (SECRET,)
        dc = await sources.get_by_name("dc")
        assert dc is not None and dc.secret == hash_token(TOKEN)

    run(database_url, encrypt, keys=(KEY,))

    async def rotate_key(store: Store) -> None:
        sources = repo(store)
        assert await sources.reencrypt() == 1
        source = await sources.get_by_key(key)
        assert source is not None and sources.accepted_secrets(source, 0.0) == (SECRET,)

    run(database_url, rotate_key, keys=(OTHER_KEY, KEY))

    async def old_key_gone(store: Store) -> None:
        source = await repo(store).get_by_key(key)
        assert source is not None and repo(store).accepted_secrets(source, 0.0) == (SECRET,)
        await repo(store).check_secrets()

    run(database_url, old_key_gone, keys=(OTHER_KEY,))


def test_duplicate_name_refused(database_url: str) -> None:
    async def scenario(store: Store) -> None:
        sources = repo(store)
        await sources.add("jira", SourceMode.BEARER, TOKEN)
        with pytest.raises(DuplicateSource, match="already exists"):
            await sources.add("jira", SourceMode.CLOUD_SIGNATURE, SECRET)

    run(database_url, scenario)


@pytest.mark.parametrize(
    ("name", "mode", "secret", "header", "events", "message"),
    [
        ("", SourceMode.BEARER, TOKEN, None, None, "source name"),
        ("has space", SourceMode.BEARER, TOKEN, None, None, "source name"),
        ("x" * 65, SourceMode.BEARER, TOKEN, None, None, "source name"),
        ("ok", SourceMode.BEARER, "short", None, None, "16 to 512"),
        ("ok", SourceMode.BEARER, "has a space in the token", None, None, "spaces"),
        ("ok", SourceMode.CLOUD_SIGNATURE, "tab\tin-the-secret-123", None, None, "control"),
        ("ok", SourceMode.CLOUD_SIGNATURE, SECRET, "X-Token", None, "header-token sources only"),
        ("ok", SourceMode.BEARER, TOKEN, "X-Token", None, "header-token sources only"),
        ("ok", SourceMode.HEADER_TOKEN, TOKEN, "Authorization", None, "reserved"),
        ("ok", SourceMode.HEADER_TOKEN, TOKEN, "X-Atlassian-Token", None, "reserved"),
        ("ok", SourceMode.HEADER_TOKEN, TOKEN, "X Token", None, "not a valid"),
        ("ok", SourceMode.BEARER, TOKEN, None, [" ", ""], "empty"),
        ("ok", SourceMode.BEARER, TOKEN, None, ["jira:issue updated"], "not a Jira webhook"),
    ],
)
def test_invalid_sources_refused(
    sqlite_url: str,
    name: str,
    mode: SourceMode,
    secret: str,
    header: str | None,
    events: list[str] | None,
    message: str,
) -> None:
    async def scenario(store: Store) -> None:
        with pytest.raises(SourceError, match=message):
            await repo(store).add(name, mode, secret, header=header, events=events)
        assert await repo(store).list() == []

    run(sqlite_url, scenario)


def test_cloud_secret_may_contain_spaces(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        source = await repo(store).add(
            "x", SourceMode.CLOUD_SIGNATURE, "It's a Secret to Everybody"
        )
        assert repo(store).accepted_secrets(source, 0.0) == ("It's a Secret to Everybody",)

    run(sqlite_url, scenario)


def test_events_deduplicated_in_order(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        source = await repo(store).add(
            "x",
            SourceMode.BEARER,
            TOKEN,
            events=["comment_created", " jira:issue_updated ", "comment_created"],
        )
        assert source.events == ("comment_created", "jira:issue_updated")
        assert source.allows("comment_created") and not source.allows("jira:issue_created")

    run(sqlite_url, scenario)


@pytest.mark.parametrize("mode", list(SourceMode))
def test_rotation_without_grace(database_url: str, mode: SourceMode) -> None:
    async def scenario(store: Store) -> None:
        sources = repo(store)
        source = await sources.add("jira", mode, TOKEN)
        rotated = await sources.rotate("jira", NEW_SECRET, now=2000.0)
        assert rotated is not None and rotated.key == source.key
        assert rotated.rotated_at == 2000.0
        assert rotated.previous_secret is None and rotated.previous_expires_at is None
        expected = hash_token(NEW_SECRET) if mode.hashed else NEW_SECRET
        assert sources.accepted_secrets(rotated, 2000.0) == (expected,)

    run(database_url, scenario, keys=(KEY,))


@pytest.mark.parametrize("mode", [SourceMode.CLOUD_SIGNATURE, SourceMode.HEADER_TOKEN])
def test_rotation_with_grace(database_url: str, mode: SourceMode) -> None:
    def form(secret: str) -> str:
        return hash_token(secret) if mode.hashed else secret

    async def scenario(store: Store) -> None:
        sources = repo(store)
        await sources.add("jira", mode, TOKEN)
        rotated = await sources.rotate("jira", NEW_SECRET, grace=600, now=1000.0)
        assert rotated is not None and rotated.previous_expires_at == 1600.0
        assert rotated.in_grace(1599.9) and not rotated.in_grace(1600.0)
        assert sources.accepted_secrets(rotated, 1000.0) == (form(NEW_SECRET), form(TOKEN))
        assert sources.accepted_secrets(rotated, 1599.0) == (form(NEW_SECRET), form(TOKEN))
        assert sources.accepted_secrets(rotated, 1600.0) == (form(NEW_SECRET),)
        third = "third-secret-" + "w" * 20
        again = await sources.rotate("jira", third, grace=60, now=1100.0)
        assert again is not None
        assert sources.accepted_secrets(again, 1100.0) == (form(third), form(NEW_SECRET))
        last = await sources.rotate("jira", TOKEN, now=1200.0)
        assert last is not None and sources.accepted_secrets(last, 1200.0) == (form(TOKEN),)
        if not mode.hashed:
            row = await store.db.fetch_one("SELECT * FROM sources WHERE name = 'jira'")
            assert row is not None and NEW_SECRET not in str(dict(row))

    run(database_url, scenario, keys=(KEY,))


def test_rotate_unknown_and_bad_secret(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        sources = repo(store)
        assert await sources.rotate("nope", NEW_SECRET) is None
        await sources.add("jira", SourceMode.BEARER, TOKEN)
        with pytest.raises(SourceError):
            await sources.rotate("jira", "short")
        with pytest.raises(SourceError):
            await sources.rotate("jira", NEW_SECRET, grace=-1)
        source = await sources.get_by_name("jira")
        assert source is not None and source.secret == hash_token(TOKEN)

    run(sqlite_url, scenario)


def test_repr_shows_no_secret_nor_key(sqlite_url: str) -> None:
    async def scenario(store: Store) -> None:
        source = await repo(store).add("jira", SourceMode.CLOUD_SIGNATURE, SECRET)
        assert SECRET not in repr(source)
        assert source.key not in repr(source)
        assert "jira" in repr(source)

    run(sqlite_url, scenario)


def test_secret_box_owner_is_the_source_key() -> None:
    box = SecretBox((KEY,))
    sealed = box.encrypt(SECRET, "key-a")
    assert box.decrypt(sealed, "key-a") == SECRET
    with pytest.raises(DecryptionError):
        box.decrypt(sealed, "key-b")
    assert generate_key()
