"""`addon people`: import, add, remove, list, accounts, map, unmap and forget, through real
subprocesses on a SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from addon.people import Account, AccountType, Directory, PeopleStore
from addon.store import open_store
from tests.cli.test_cli import run

SITE = "https://acme.atlassian.net"


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/addon.db"}


def people(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = run("people", *args, env=env_for(tmp_path), cwd=tmp_path)
    return result.returncode, result.stdout, result.stderr


def add_accounts(tmp_path: Path, *accounts: Account) -> None:
    async def go() -> None:
        store = await open_store(f"sqlite:///{tmp_path}/addon.db")
        try:
            directory = Directory(PeopleStore(store.db))
            for account in accounts:
                await directory.account_changed(account)
        finally:
            await store.db.disconnect()

    asyncio.run(go())


def test_import_reports_bad_rows_by_line_and_keeps_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text("id,email,name\nu1,ada@example.com,Ada\n,b@example.com,B\nu3,,Cy\n")
    code, out, err = people(tmp_path, "import", str(data))
    assert code == 1
    assert out.strip() == "imported 2 people; 1 rows skipped"
    assert f"{data}: line 3: a person needs a non-empty id" in err
    code, out, _ = people(tmp_path, "list")
    assert code == 0
    assert out.splitlines() == [
        "ID  EMAIL            NAME",
        "u1  ada@example.com  Ada",
        "u3  —                Cy",
    ]


def test_import_refuses_a_file_it_cannot_read(tmp_path: Path) -> None:
    code, out, err = people(tmp_path, "import", str(tmp_path / "missing.csv"))
    assert (code, out) == (2, "")
    assert err.startswith("addon: cannot read") and "missing.csv" in err
    bad = tmp_path / "no-id.csv"
    bad.write_text("email\na@example.com\n")
    code, _, err = people(tmp_path, "import", str(bad))
    assert code == 2
    assert "line 1: the CSV header names no 'id' column" in err


def test_add_map_unmap_remove_and_forget(tmp_path: Path) -> None:
    assert people(tmp_path, "add", "u1", "--email", "ada@example.com", "--name", "Ada")[0] == 0
    assert people(tmp_path, "add", "u2")[0] == 0
    add_accounts(
        tmp_path,
        Account(SITE, "acc-ada", AccountType.ATLASSIAN, "Ada L", email="ADA@example.com"),
        Account(SITE, "acc-x", AccountType.ATLASSIAN, "X"),
        Account(SITE, "app-1", AccountType.APP, "Bot"),
    )
    code, out, _ = people(tmp_path, "accounts", SITE + "/")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SITE", "ACCOUNT", "ID", "TYPE", "NAME", "EMAIL", "STATE", "PERSON"]
    assert [line.split()[1] for line in lines[1:]] == ["acc-x", "acc-ada", "app-1"]
    assert "unmapped" in lines[1] and "u1 (auto)" in lines[2] and "not_a_person" in lines[3]

    code, out, _ = people(tmp_path, "map", SITE, "acc-x", "u2")
    assert (code, out.strip()) == (0, f"mapped acc-x on {SITE} to u2")
    code, _, err = people(tmp_path, "map", SITE, "app-1", "u2")
    assert code == 1 and "not a person's" in err
    code, _, err = people(tmp_path, "map", SITE, "acc-x", "nobody")
    assert code == 1 and "no person with id 'nobody'" in err
    assert "u2 (manual)" in people(tmp_path, "accounts")[1]
    code, out, _ = people(tmp_path, "unmap", SITE, "acc-x")
    assert (code, out.strip()) == (0, f"unmapped acc-x on {SITE}")

    code, out, _ = people(tmp_path, "forget", "acc-ada")
    assert (code, out.strip()) == (
        0,
        f"forgot acc-ada: erased from {SITE}; 0 stored payloads scrubbed",
    )
    assert "acc-ada" not in people(tmp_path, "accounts")[1]

    assert people(tmp_path, "remove", "u2")[0] == 0
    code, _, err = people(tmp_path, "remove", "u2")
    assert code == 1 and "no person with id 'u2'" in err
    assert [line.split()[0] for line in people(tmp_path, "list")[1].splitlines()] == ["ID", "u1"]


def test_refresh_imports_through_the_site_s_door_and_map_releases_held_deliveries(
    tmp_path: Path,
) -> None:
    import json
    import time

    from addon.people import HeldDeliveries
    from addon.simulator import FakeJiraUsers
    from addon.store import DeliveryStatus, HandlerState, NewDelivery
    from tests.support.loopback import LoopbackServer

    fake = FakeJiraUsers()
    fake.add("acc-1", "Ada Lovelace", "ada@example.com")
    fake.add("acc-2", "Bot", account_type="app")
    url = f"sqlite:///{tmp_path}/addon.db"

    with LoopbackServer(fake.app) as server:

        async def install() -> int:
            store = await open_store(url, handler_state=HandlerState.PENDING)
            await store.start()
            try:
                await store.tenants.save_installation(
                    {"key": "addon", "clientKey": "c-1", "sharedSecret": "s" * 32,
                     "baseUrl": server.url},
                    iat=1,
                )  # fmt: skip
                recorded = await store.writer.record(
                    NewDelivery(
                        received_at=time.time(),
                        origin_kind="connect",
                        origin="c-1",
                        status=DeliveryStatus.ACCEPTED,
                        event="jira:issue_updated",
                        webhook_id="w-held",
                        body=json.dumps({"user": {"accountId": "acc-1"}}).encode(),
                    )
                )
                assert await HeldDeliveries(store.db).hold(recorded.id, server.url, "acc-1")
                return recorded.id
            finally:
                await store.close()

        held = asyncio.run(install())
        env = {**env_for(tmp_path), "ADDON_KEY": "addon"}
        result = run("people", "refresh", server.url + "/", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{server.url}: 2 accounts, 0 removed"
        assert "Ada Lovelace" not in result.stderr  # no personal data in its log
        assert any(r.startswith("GET /rest/api/3/users/search") for r in fake.requests)

        result = run(
            "people", "add", "p-ada", "--email", "other@example.com", env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        result = run("people", "map", server.url, "acc-1", "p-ada", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        result = run("people", "map", server.url, "acc-2", "p-ada", env=env, cwd=tmp_path)
        assert result.returncode == 1 and "'app' account" in result.stderr

        fake.closed.add("acc-2")
        fake.cycle_period = 3 * 86_400
        result = run("people", "report", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            f"{server.url}: 1 closed (forgotten), 0 updated (refreshed); next report in 3 days"
        )
        assert fake.reports == [["acc-1", "acc-2"]]
        listed = run("people", "accounts", server.url, env=env, cwd=tmp_path).stdout
        assert "acc-1" in listed and "acc-2" not in listed

    async def state() -> str:
        store = await open_store(url)
        try:
            delivery = await store.deliveries.get(held)
            assert delivery is not None
            return delivery.handler_state.value
        finally:
            await store.db.disconnect()

    assert asyncio.run(state()) == "pending"  # released by the mapping
