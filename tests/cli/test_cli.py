"""The `addon` command: the README's start command, descriptor, one-line errors, keys, tenants."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable
from tests.support.live import ROOT, free_port

ADDON = Path(sys.executable).parent / "addon"


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ADDON_", "INSPECTOR_", "DATABASE_URL"))
        },
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "addon", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_readme_start_command_serves_on_its_port(tmp_path: Path) -> None:
    if not ADDON.exists():
        unavailable("the `addon` console script", f"{ADDON} (pip install -e . creates it)")
    port = free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ADDON_", "INSPECTOR_", "DATABASE_URL"))
        },
        "PORT": str(port),
    }
    process = subprocess.Popen(
        [str(ADDON), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        import time

        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not answer"
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        assert (tmp_path / "addon.db").exists()
        served = httpx.get(f"http://127.0.0.1:{port}/atlassian-connect.json").json()
        assert served["baseUrl"] == f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def test_descriptor_command_equals_the_served_descriptor(tmp_path: Path) -> None:
    from tests.support.live import LiveServer

    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/a.db", "ADDON_NAME": 'Ünïcode "quoted" add-on'}
    with LiveServer(env, log_dir=tmp_path) as server:
        served = httpx.get(server.base_url + "/atlassian-connect.json")
        assert served.headers["content-type"].startswith("application/json")
        printed = run("descriptor", env={**env, "ADDON_BASE_URL": server.base_url})
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.encode() == served.content


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ADDON_BASE_URL": "nope"}, "ADDON_BASE_URL: "),
        ({"ADDON_KEY": "bad key!"}, "ADDON_KEY: "),
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}, "DATABASE_URL: "),
        ({"ADDON_HANDLERS": "no_such_module:handlers"}, "ADDON_HANDLERS: "),
        ({"ADDON_DESCRIPTOR_TEMPLATE": "/no/such/file"}, "ADDON_DESCRIPTOR_TEMPLATE: "),
    ],
)
def test_bad_configuration_stops_serve_with_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = run("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("addon: " + expected), lines[0]
    assert "Traceback" not in result.stderr


def test_wrong_encryption_key_stops_serve_with_one_line(tmp_path: Path) -> None:
    from addon.store import generate_key

    database = f"sqlite:///{tmp_path}/k.db"
    first = run(
        "tenants",
        "list",
        env={"DATABASE_URL": database, "ADDON_ENCRYPTION_KEY": generate_key()},
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    import asyncio

    from addon.store import open_store

    async def install() -> None:
        import base64

        key = generate_key()
        store = await open_store(
            database, keys=(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)),)
        )
        await store.tenants.save_installation(
            {
                "key": "k",
                "clientKey": "c-1",
                "sharedSecret": "s",
                "baseUrl": "https://x.atlassian.net",
            },
            iat=1,
        )
        await store.db.disconnect()

    asyncio.run(install())
    result = run(
        "serve",
        "--port",
        str(free_port()),
        env={"DATABASE_URL": database, "ADDON_ENCRYPTION_KEY": generate_key()},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("addon: ADDON_ENCRYPTION_KEY: tenant c-1")
    assert len(result.stderr.strip().splitlines()) == 1


def test_keys_generate_tenants_list_and_purge(tmp_path: Path) -> None:
    key = run("keys", "generate")
    assert key.returncode == 0
    from addon.settings import load_settings

    assert len(load_settings({"ADDON_ENCRYPTION_KEY": key.stdout.strip()}).encryption_keys) == 1
    database = f"sqlite:///{tmp_path}/t.db"
    empty = run("tenants", "list", env={"DATABASE_URL": database})
    assert empty.stdout.strip() == "no tenants"
    missing = run("tenants", "purge", "nobody", env={"DATABASE_URL": database})
    assert missing.returncode == 1
    assert "no tenant with clientKey 'nobody'" in missing.stderr
    rotate = run("keys", "rotate", env={"DATABASE_URL": database})
    assert rotate.returncode == 2 and "ADDON_ENCRYPTION_KEY" in rotate.stderr


def test_tenants_list_has_headers(tmp_path: Path) -> None:
    import asyncio

    from addon.store import open_store

    database = f"sqlite:///{tmp_path}/t.db"

    async def install() -> None:
        store = await open_store(database)
        await store.tenants.save_installation(
            {
                "key": "k",
                "clientKey": "client-1",
                "sharedSecret": "s",
                "baseUrl": "https://x.atlassian.net",
                "productType": "jira",
            },
            iat=1,
        )
        await store.db.disconnect()

    asyncio.run(install())
    result = run("tenants", "list", env={"DATABASE_URL": database})
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["CLIENT", "KEY", "STATE", "PRODUCT", "INSTALLED", "(UTC)", "SITE"]
    assert row.split()[:3] == ["client-1", "installed", "jira"]
    assert row.endswith("https://x.atlassian.net")
    assert header.index("STATE") == row.index("installed")
    assert header.index("SITE") == row.index("https://")


@pytest.mark.parametrize(
    "command",
    [
        ("keys", "generate"),
        ("descriptor",),
        ("tenants", "list"),
        ("--help",),
        ("simulate", "events"),
    ],
)
def test_a_closed_output_ends_quietly(tmp_path: Path, command: tuple[str, ...]) -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "addon", *command],
            env={
                **{
                    k: v for k, v in os.environ.items() if not k.startswith(("ADDON_", "DATABASE_"))
                },
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
            },
            cwd=tmp_path,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode in (0, 141)
