"""`addon simulate install --forge`: installed as Forge installs a Connect app (an installationId in
the payload, no enabled or disabled ever), against a real add-on server process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from addon.simulator._state import Installation, InstallState, load_state
from addon.store import TenantState
from tests.simulator.test_cli import Addon, simulate
from tests.support.live import LiveServer, free_port

INSTALLATION_ARI = re.compile(
    r"ari:cloud:ecosystem::installation/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


@pytest.fixture(scope="module")
def addon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Addon]:
    directory = tmp_path_factory.mktemp("addon")
    database_url = f"sqlite:///{directory}/addon.db"
    key_server = f"127.0.0.1:{free_port()}"
    server = LiveServer(
        {"DATABASE_URL": database_url, "CONNECT_INSTALL_KEYS_URL": f"http://{key_server}"},
        log_dir=directory,
    )
    with server:
        yield Addon(server, key_server, database_url)


def run(capsys: pytest.CaptureFixture[str], addon: Addon, state: Path, *args: str) -> list[str]:
    status, out, err = simulate(
        capsys, *args, "--addon", addon.url, "--state", str(state), "--key-server", addon.key_server
    )
    assert status == 0, (out, err, addon.server.log()[-3000:])
    return out


def installation(state: Path, addon: Addon) -> Installation:
    loaded = load_state(state)
    assert loaded is not None
    found = loaded.installation(addon.url)
    assert found is not None
    return found


def test_install_through_forge_sends_the_installation_id_and_no_enabled(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "simulator.json"
    out = run(capsys, addon, state, "install", "--forge")
    kept = installation(state, addon)
    assert kept.installation_id is not None and INSTALLATION_ARI.fullmatch(kept.installation_id)
    assert kept.state is InstallState.INSTALLED
    assert any("through Forge" in line and kept.installation_id in line for line in out), out
    assert any(line.startswith("installed: POST") and "-> 204" in line for line in out), out
    assert not any(line.startswith("enabled:") for line in out), out
    assert "no enabled follows" in "\n".join(out)

    loaded = load_state(state)
    assert loaded is not None
    tenant = addon.tenant(loaded.site.client_key)
    assert tenant.installation_id == kept.installation_id
    assert tenant.installed_through == "forge"
    assert tenant.state is TenantState.INSTALLED  # never enabled, and active all the same
    status, out, err = simulate(
        capsys, "send", "jira:issue_updated", "--addon", addon.url, "--state", str(state)
    )
    assert status == 0, (out, err)
    assert [d.status.value for d in addon.deliveries_from(tenant.client_key)] == ["accepted"]


def test_the_installation_id_lasts_as_long_as_the_installation(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "simulator.json"
    run(capsys, addon, state, "install", "--forge")
    first = installation(state, addon).installation_id
    run(capsys, addon, state, "install", "--forge")
    assert installation(state, addon).installation_id == first
    run(capsys, addon, state, "rotate-secret")
    assert installation(state, addon).installation_id == first
    loaded = load_state(state)
    assert loaded is not None
    client_key = loaded.site.client_key
    assert addon.tenant(client_key).installation_id == first

    out = run(capsys, addon, state, "uninstall")
    assert not any(line.startswith("disabled:") for line in out), out
    assert any(line.startswith("uninstalled: POST") and "-> 204" in line for line in out), out
    assert addon.tenant(client_key).state is TenantState.UNINSTALLED

    run(capsys, addon, state, "install", "--forge")  # a new installation: a new id
    second = installation(state, addon).installation_id
    assert second is not None and second != first
    assert addon.tenant(client_key).installation_id == second


def test_a_plain_install_sends_no_installation_id(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "simulator.json"
    out = run(capsys, addon, state, "install")
    assert any(line.startswith("enabled: POST") for line in out), out
    assert installation(state, addon).installation_id is None
    loaded = load_state(state)
    assert loaded is not None
    tenant = addon.tenant(loaded.site.client_key)
    assert tenant.installed_through == "descriptor" and tenant.state is TenantState.ENABLED
