"""`addon simulate forge` against the real app: the simulator's key server (on a free loopback
port, as FORGE_JWKS_URL), its tokens, bodies, retries, scheduled trigger and preUninstall."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from addon.simulator import (
    ForgeCall,
    ForgeTarget,
    forge_install,
    forge_send,
    forge_tick,
    forge_uninstall,
)
from addon.simulator._keyserver import KeyServerAddress
from addon.simulator._state import load_state
from addon.store import DeliveryStatus
from tests.forge.test_door import APP_ID, running
from tests.support.jwks import JwksServer, make_signing_key


def free_address() -> KeyServerAddress:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return KeyServerAddress("127.0.0.1", probe.getsockname()[1])


def test_the_simulator_installs_sends_retries_ticks_and_uninstalls(
    sqlite_url: str, tmp_path: Path
) -> None:
    address = free_address()
    jwks_url = f"{address.url}/.well-known/jwks.json"
    reports: list[str] = []
    with running(sqlite_url, jwks_url, JwksServer(), make_signing_key("unused")) as forge:
        target = ForgeTarget(
            state_path=tmp_path / "simulator.json",
            app_id=APP_ID,
            addon_url=forge.base_url,
            key_server=address,
        )
        installed = asyncio.run(forge_install(target, reports.append, ForgeCall()))
        assert [a.ok for a in installed] == [True], reports
        state = load_state(target.state_path)
        assert state is not None and state.forge is not None
        installation_id = state.forge.installation_id

        sent = asyncio.run(
            forge_send(
                target,
                "avi:jira:updated:issue",
                reports.append,
                ForgeCall(envelope="payload", retry=True),
            )
        )
        assert [a.ok for a in sent] == [True, True], reports
        rows = forge.rows(3)
        assert [(row.event, row.status) for row in rows] == [
            ("avi:forge:installed:app", DeliveryStatus.ACCEPTED),
            ("avi:jira:updated:issue", DeliveryStatus.ACCEPTED),
            ("avi:jira:updated:issue", DeliveryStatus.DUPLICATE),
        ]
        assert {row.origin for row in rows} == {installation_id}
        assert rows[2].retry == 1 and rows[1].issue_key is not None
        seen = forge.seen(2)
        assert all("myself" in s for s in seen), seen  # the simulator's system token was kept
        assert forge.api.calls[-1][0] == f"/ex/jira/{state.forge.cloud_id}/rest/api/3/myself"

        before = time.time()
        ticked = asyncio.run(forge_tick(target, reports.append, ForgeCall(system_token=False)))
        assert [a.ok for a in ticked] == [True], reports
        assert len(forge.rows(3)) == 3  # a tick is not a delivery

        async def stored() -> dict[str, object]:
            from addon.store import open_store

            store = await open_store(sqlite_url, encrypt_existing=False)
            try:
                row = await store.db.fetch_one(
                    "SELECT * FROM forge_installations WHERE installation_id = ?",
                    (installation_id,),
                )
            finally:
                await store.db.disconnect()
            assert row is not None
            return dict(row)

        assert float(asyncio.run(stored())["last_tick_at"]) >= before  # type: ignore[arg-type]
        gone = asyncio.run(forge_uninstall(target, reports.append, ForgeCall()))
        assert [a.ok for a in gone] == [True], reports
        after = asyncio.run(stored())
        assert after["uninstalled"] and after["system_token"] is None


def test_the_simulators_forge_key_server_is_on_the_fixed_address_the_readme_names(
    tmp_path: Path,
) -> None:
    """Named, never bound here: tests use free ports."""
    from addon.simulator import DEFAULT_FORGE_KEY_SERVER, DEFAULT_KEY_SERVER

    address = ForgeTarget(state_path=tmp_path / "s.json", app_id=APP_ID).key_server
    assert address == KeyServerAddress("127.0.0.1", 8766)
    assert KeyServerAddress.parse(DEFAULT_FORGE_KEY_SERVER) == address
    assert DEFAULT_FORGE_KEY_SERVER != DEFAULT_KEY_SERVER  # beside the Connect key server
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "http://127.0.0.1:8766/.well-known/jwks.json" in readme
