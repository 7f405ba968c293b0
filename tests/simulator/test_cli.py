"""`addon simulate` against a real add-on server process (SQLite file), started with
CONNECT_INSTALL_KEYS_URL pointing at the simulator's key server: what it stores is read back
through the store API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import descriptor
from addon.cli import main
from addon.simulator._state import (
    InstallState,
    SimulatorState,
    SiteIdentity,
    load_state,
    new_installation,
    save_state,
)
from addon.store import Delivery, DeliveryFilter, Tenant, TenantState, open_store
from tests.support.live import ROOT, LiveServer, free_port

ISSUE = {"issue.key": "PRJ-1", "issue.id": "10001", "project.key": "PRJ", "project.id": "10000"}
VALUES = {
    **ISSUE,
    "version.id": "10100",
    "mergedVersion.id": "10100",
    "sprint.id": "1",
    "board.id": "1",
    "modifiedUser.accountId": "712020:c4d2e8f1-6b3a-4e5d-8f9c-1a2b3c4d5e6f",
}
VALUES_FOR = {"jira:version_merged": {"version.id": "10101"}}


def expected_context(event: str, parameters: tuple[str, ...]) -> dict[str, str]:
    """What the add-on should store for an example: every parameter the body has a place for."""
    known = descriptor.lookup(event)
    assert known is not None, event
    values = {**VALUES, **VALUES_FOR.get(event, {})}
    return {name: values[name] for name in parameters if known.sources.get(name) and name in values}


class Addon:
    """The running add-on, the key server address it trusts, and its database."""

    def __init__(self, server: LiveServer, key_server: str, database_url: str) -> None:
        self.server = server
        self.url = server.base_url
        self.key_server = key_server
        self.database_url = database_url

    def descriptor(self) -> dict[str, Any]:
        document: dict[str, Any] = httpx.get(f"{self.url}/atlassian-connect.json").json()
        return document

    def read(self) -> tuple[list[Delivery], list[Tenant]]:
        async def go() -> tuple[list[Delivery], list[Tenant]]:
            store = await open_store(self.database_url, encrypt_existing=False)
            try:
                deliveries = await store.deliveries.page(DeliveryFilter(), limit=100_000)
                return deliveries, await store.tenants.all()
            finally:
                await store.db.disconnect()

        return asyncio.run(go())

    def deliveries_from(self, client_key: str) -> list[Delivery]:
        deliveries, _ = self.read()
        return sorted((d for d in deliveries if d.origin == client_key), key=lambda d: d.id)

    def tenant(self, client_key: str) -> Tenant:
        _, tenants = self.read()
        return next(t for t in tenants if t.client_key == client_key)


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


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    """Run `addon simulate ...` in this process: exit status, stdout lines, stderr lines."""
    status = main(["simulate", *args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err.splitlines()


def install(capsys: pytest.CaptureFixture[str], addon: Addon, state: Path) -> SimulatorState:
    status, out, err = simulate(
        capsys, "install", "--addon", addon.url, "--state", str(state),
        "--key-server", addon.key_server,
    )  # fmt: skip
    assert status == 0, (out, err, addon.server.log()[-3000:])
    loaded = load_state(state)
    assert loaded is not None
    return loaded


def secret_of(state: Path, addon: Addon) -> str:
    loaded = load_state(state)
    assert loaded is not None
    installation = loaded.installation(addon.url)
    assert installation is not None and installation.shared_secret is not None
    return installation.shared_secret


def test_install_then_send_every_subscribed_event(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "simulator.json"
    status, out, err = simulate(
        capsys, "install", "--addon", addon.url, "--state", str(state_path),
        "--key-server", addon.key_server,
    )  # fmt: skip
    assert status == 0, (out, err)
    assert any(line.startswith(f"installed: POST {addon.url}/installed -> 204") for line in out)
    assert any(line.startswith(f"enabled: POST {addon.url}/enabled -> 204") for line in out)
    state = load_state(state_path)
    assert state is not None
    client_key = state.site.client_key
    tenant = addon.tenant(client_key)
    assert tenant.state is TenantState.ENABLED
    assert tenant.base_url == "https://simulated.atlassian.net"
    assert tenant.shared_secret == secret_of(state_path, addon)

    modules = descriptor.parse_webhooks(addon.descriptor())
    subscribed = list(dict.fromkeys(module.event for module in modules))
    catalogue = {event.name for event in descriptor.events()}
    assert subscribed and set(subscribed) <= catalogue
    for event in subscribed:
        status, out, err = simulate(
            capsys, "send", event, "--addon", addon.url, "--state", str(state_path)
        )
        assert status == 0, (event, out, err)

    deliveries = addon.deliveries_from(client_key)
    assert [d.event for d in deliveries] == subscribed
    for delivery, module in zip(deliveries, modules, strict=True):
        expected = expected_context(module.event, module.template.parameters)
        assert delivery.status.value == "accepted", (delivery.event, delivery.reason)
        assert dict(delivery.context) == expected, delivery.event
        assert delivery.flow == "Primary" and delivery.retry == 0
        assert delivery.webhook_id
        assert delivery.payload()["webhookEvent"] == delivery.event
    assert len({d.webhook_id for d in deliveries}) == len(deliveries)
    issue_updated = next(d for d in deliveries if d.event == "jira:issue_updated")
    assert dict(issue_updated.context) == ISSUE
    assert issue_updated.issue_key == "PRJ-1" and issue_updated.project_key == "PRJ"


def test_send_overrides_the_issue_and_project(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    site = install(capsys, addon, state_path).site
    status, out, _ = simulate(
        capsys, "send", "comment_created", "--issue", "DEV-7", "--addon", addon.url,
        "--state", str(state_path),
    )  # fmt: skip
    assert status == 0
    assert any("issueKey=DEV-7" in line and "projectKey=DEV" in line for line in out)
    status, out, _ = simulate(
        capsys, "send", "sprint_started", "--issue", "DEV-7", "--addon", addon.url,
        "--state", str(state_path),
    )  # fmt: skip
    assert status == 0
    assert "note: sprint_started carries no issue key; --issue DEV-7 was not applied" in out
    first, _ = addon.deliveries_from(site.client_key)
    assert dict(first.context) == {
        "issue.key": "DEV-7", "issue.id": "10001", "project.key": "DEV", "project.id": "10000"
    }  # fmt: skip


def test_send_a_payload_file(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    site = install(capsys, addon, state_path).site
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"webhookEvent": "board_created", "board": {"id": 42}}))
    status, _, _ = simulate(
        capsys, "send", "board_created", "--payload", str(body), "--addon", addon.url,
        "--state", str(state_path),
    )  # fmt: skip
    assert status == 0
    (delivery,) = addon.deliveries_from(site.client_key)
    assert dict(delivery.context) == {"board.id": "42"}
    assert delivery.payload() == {"webhookEvent": "board_created", "board": {"id": 42}}


def test_retry_is_stored_as_a_duplicate(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    site = install(capsys, addon, state_path).site
    status, out, _ = simulate(
        capsys, "send", "jira:issue_created", "--retry", "--addon", addon.url,
        "--state", str(state_path),
    )  # fmt: skip
    assert status == 0
    assert out[-2].startswith("2 request(s) (1 of them retries) in ")
    first, second = addon.deliveries_from(site.client_key)
    assert first.webhook_id == second.webhook_id
    assert (first.status.value, first.retry) == ("accepted", 0)
    assert (second.status.value, second.retry) == ("duplicate", 1)
    assert second.duplicate_of == first.id


def test_repeat_with_concurrency(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    site = install(capsys, addon, state_path).site
    status, out, _ = simulate(
        capsys, "send", "worklog_created", "--repeat", "30", "--concurrency", "6",
        "--addon", addon.url, "--state", str(state_path),
    )  # fmt: skip
    assert status == 0
    assert out[-2].startswith("30 request(s) in ") and out[-2].endswith(": 204 x30")
    assert out[-1].startswith("latency p50 ")
    deliveries = addon.deliveries_from(site.client_key)
    assert len(deliveries) == 30 and {d.status.value for d in deliveries} == {"accepted"}
    assert len({d.webhook_id for d in deliveries}) == 30


def test_rotate_secret_retires_the_old_secret(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    identity = install(capsys, addon, state_path).site
    old_secret = secret_of(state_path, addon)
    status, out, err = simulate(
        capsys, "rotate-secret", "--addon", addon.url, "--state", str(state_path),
        "--key-server", addon.key_server,
    )  # fmt: skip
    assert status == 0, (out, err)
    new_secret = secret_of(state_path, addon)
    assert new_secret != old_secret
    assert addon.tenant(identity.client_key).shared_secret == new_secret

    def deliver(secret: str) -> httpx.Response:
        site = identity.site(secret)
        target = "/webhooks/jira/board-created?boardId=1"
        token = site.token(addon_base_url=addon.url, target=target)
        return httpx.post(
            addon.url + target,
            content=b'{"webhookEvent":"board_created","board":{"id":1}}',
            headers={"Authorization": f"JWT {token}", "Content-Type": "application/json"},
        )

    refused = deliver(old_secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_signature"
    assert deliver(new_secret).status_code == 204
    status, _, _ = simulate(
        capsys, "send", "board_created", "--addon", addon.url, "--state", str(state_path)
    )
    assert status == 0


def test_uninstall(addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_path = tmp_path / "state.json"
    site = install(capsys, addon, state_path).site
    status, out, err = simulate(
        capsys, "uninstall", "--addon", addon.url, "--state", str(state_path),
        "--key-server", addon.key_server,
    )  # fmt: skip
    assert status == 0, (out, err)
    assert any(line.startswith("disabled: POST") and "-> 204" in line for line in out)
    assert any(line.startswith("uninstalled: POST") and "-> 204" in line for line in out)
    tenant = addon.tenant(site.client_key)
    assert tenant.state is TenantState.UNINSTALLED and tenant.shared_secret is None
    loaded = load_state(state_path)
    assert loaded is not None
    installation = loaded.installation(addon.url)
    assert installation is not None and installation.state is InstallState.UNINSTALLED
    assert installation.shared_secret is None

    status, out, err = simulate(
        capsys, "send", "jira:issue_updated", "--addon", addon.url, "--state", str(state_path)
    )
    assert status == 1 and out == []
    assert err == [
        f"addon: the simulated site in {state_path} uninstalled the add-on at {addon.url};"
        f" run: addon simulate install --addon {addon.url}"
    ]


def test_sending_needs_an_install(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = simulate(
        capsys, "send", "jira:issue_updated", "--addon", addon.url,
        "--state", str(tmp_path / "none.json"),
    )  # fmt: skip
    assert status == 1 and out == []
    assert len(err) == 1 and "has not installed the add-on" in err[0]
    assert f"run: addon simulate install --addon {addon.url}" in err[0]


def test_an_unknown_event_lists_close_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = simulate(
        capsys, "send", "issue_updatd", "--state", str(tmp_path / "none.json")
    )
    assert status != 0 and out == []
    assert len(err) == 1
    assert err[0].startswith("addon: unknown event 'issue_updatd'; did you mean ")
    assert "jira:issue_updated" in err[0]


def test_an_event_the_descriptor_does_not_subscribe_to(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    install(capsys, addon, state_path)
    status, _, err = simulate(
        capsys, "send", "issuetype_created", "--addon", addon.url, "--state", str(state_path)
    )
    assert status == 1 and len(err) == 1
    assert (
        "does not subscribe to issuetype_created; it subscribes to: jira:issue_created," in err[0]
    )


def test_an_unreachable_addon_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    status, out, err = simulate(
        capsys, "install", "--addon", nowhere, "--state", str(tmp_path / "state.json"),
        "--key-server", f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert status == 1
    assert len(err) == 1 and err[0].startswith(f"addon: the add-on is not reachable at {nowhere} (")

    state_path = tmp_path / "installed.json"
    identity = SiteIdentity.generate()
    installation = new_installation(nowhere, "k", nowhere, "secret", InstallState.ENABLED)
    save_state(state_path, SimulatorState(identity).with_installation(installation))
    status, out, err = simulate(
        capsys, "send", "jira:issue_updated", "--addon", nowhere, "--state", str(state_path)
    )
    assert status == 1 and out == []
    assert len(err) == 1 and err[0].startswith(f"addon: the add-on is not reachable at {nowhere} (")


def test_an_install_the_addon_cannot_verify_names_the_variable(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = f"127.0.0.1:{free_port()}"
    status, out, err = simulate(
        capsys, "install", "--addon", addon.url, "--state", str(tmp_path / "state.json"),
        "--key-server", elsewhere,
    )  # fmt: skip
    assert status == 1
    assert any(
        line.startswith(f"installed: POST {addon.url}/installed -> 503")
        and "key_server_unavailable" in line
        for line in out
    )
    assert len(err) == 1
    assert f"start the add-on with CONNECT_INSTALL_KEYS_URL=http://{elsewhere}" in err[0]
    assert not any(line.startswith("enabled:") for line in out)


def test_bad_arguments_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["send", "jira:issue_updated", "--repeat", "0"],
        ["send", "jira:issue_updated", "--concurrency", "many"],
        ["install", "--key-server", "nowhere"],
        ["install", "--addon", "ftp://x"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(["simulate", *args])
        assert exited.value.code == 2
    capsys.readouterr()


def test_the_readme_first_run_as_subprocesses(addon: Addon, tmp_path: Path) -> None:
    state_path = tmp_path / "state.json"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "addon", "simulate", *args, "--addon", addon.url,
             "--state", str(state_path)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    installed = run("install", "--key-server", addon.key_server)
    assert installed.returncode == 0, installed.stderr
    sent = run("send", "jira:issue_updated")
    assert sent.returncode == 0, sent.stderr
    assert "204 x1" in sent.stdout
    loaded = load_state(state_path)
    assert loaded is not None
    (delivery,) = addon.deliveries_from(loaded.site.client_key)
    assert delivery.event == "jira:issue_updated" and dict(delivery.context) == ISSUE


def test_a_reinstall_keeps_the_secret_and_follows_a_site_rename(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    site = install(capsys, addon, state_path).site
    secret = secret_of(state_path, addon)
    status, out, err = simulate(
        capsys, "install", "--addon", addon.url, "--state", str(state_path),
        "--key-server", addon.key_server, "--site-url", "https://renamed.atlassian.net",
    )  # fmt: skip
    assert status == 0, (out, err)
    assert out[0] == "the simulated site is now at https://renamed.atlassian.net"
    assert out[1].startswith("re-installing (same shared secret): add-on ")
    assert secret_of(state_path, addon) == secret
    tenant = addon.tenant(site.client_key)
    assert tenant.base_url == "https://renamed.atlassian.net"
    assert tenant.state is TenantState.ENABLED
    status, _, _ = simulate(
        capsys, "send", "jira:issue_updated", "--addon", addon.url, "--state", str(state_path)
    )
    assert status == 0
    (delivery,) = addon.deliveries_from(site.client_key)
    assert delivery.payload()["issue"]["self"].startswith("https://renamed.atlassian.net/")


def test_without_addon_the_installed_one_is_used(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    site = install(capsys, addon, state_path).site
    assert not addon.url.endswith(":8000")
    status, out, err = simulate(capsys, "send", "jira:issue_updated", "--state", str(state_path))
    assert status == 0, (out, err)
    assert out[0].startswith(f"jira:issue_updated: POST {addon.url}/webhooks/")
    (delivery,) = addon.deliveries_from(site.client_key)
    assert delivery.event == "jira:issue_updated"
    old = secret_of(state_path, addon)
    status, out, err = simulate(
        capsys, "rotate-secret", "--state", str(state_path), "--key-server", addon.key_server
    )
    assert status == 0, (out, err)
    assert secret_of(state_path, addon) != old
    status, out, err = simulate(
        capsys, "uninstall", "--state", str(state_path), "--key-server", addon.key_server
    )
    assert status == 0, (out, err)
    assert addon.tenant(site.client_key).state is TenantState.UNINSTALLED
    status, out, err = simulate(capsys, "send", "jira:issue_updated", "--state", str(state_path))
    assert status == 1 and out == []
    assert err == [
        f"addon: the simulated site in {state_path} has no add-on installed;"
        f" run: addon simulate install --addon {addon.url}"
    ]


def test_without_addon_several_installed_are_listed(
    addon: Addon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_path = tmp_path / "state.json"
    state = install(capsys, addon, state_path)
    other = f"http://127.0.0.1:{free_port()}"
    second = new_installation(other, "k", other, "secret", InstallState.ENABLED)
    save_state(state_path, state.with_installation(second))
    for args in (["send", "jira:issue_updated"], ["uninstall"], ["rotate-secret"]):
        status, out, err = simulate(capsys, *args, "--state", str(state_path))
        assert status == 1 and out == [], args
        assert err == [
            f"addon: the simulated site in {state_path} has installed several add-ons"
            f" ({addon.url}, {other}); choose one with --addon URL"
        ]
    assert len(addon.deliveries_from(state.site.client_key)) == 0


def test_help_says_where_the_state_is(capsys: pytest.CaptureFixture[str]) -> None:
    from addon.simulator import DEFAULT_STATE_PATH

    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    shown = "".join(capsys.readouterr().out.split())
    assert "".join(str(DEFAULT_STATE_PATH.expanduser()).split()) in shown


def run_addon(
    *args: str, cwd: Path, stdout: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "addon", *args],
        env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60,
    )  # fmt: skip


def test_events_lists_the_subscribed_and_those_with_payloads(addon: Addon, tmp_path: Path) -> None:
    from addon.simulator import example_events

    subscribed = {module.event for module in descriptor.parse_webhooks(addon.descriptor())}
    examples = set(example_events())
    for args in ((), ("--addon", addon.url)):
        listed = run_addon("simulate", "events", *args, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[1].split() == ["EVENT", "SUBSCRIBED", "PAYLOAD"]
        rows = {line.split()[0]: line.split()[1:3] for line in lines[2:]}
        assert set(rows) == subscribed | examples
        for event, (in_descriptor, has_payload) in rows.items():
            assert (in_descriptor == "yes") == (event in subscribed), event
            assert (has_payload == "yes") == (event in examples), event


def test_send_to_a_closed_output_ends_quietly(addon: Addon, tmp_path: Path) -> None:
    state_path = tmp_path / "state.json"
    installed = run_addon(
        "simulate", "install", "--addon", addon.url, "--state", str(state_path),
        "--key-server", addon.key_server, cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    reader, writer = os.pipe()
    os.close(reader)
    try:
        sent = run_addon(
            "simulate", "send", "jira:issue_updated", "--state", str(state_path),
            cwd=tmp_path, stdout=writer,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert sent.stderr == ""
    assert sent.returncode == 141
