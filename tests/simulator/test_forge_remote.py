"""The simulator acting as Forge: its tokens pass the Forge door's verifier, its bodies keep their
delivery identifier across retries, and `addon simulate forge` calls a Forge Remote backend."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import descriptor
from addon.auth import JwksCache
from addon.errors import Refusal
from addon.forge import Invocation, bearer_token, read_event, read_system_token, verify_invocation
from addon.simulator._forge_keys import ForgeIdentity, ForgeKeyServer, invocation_token
from addon.simulator._forge_payloads import forge_body, forge_event, lifecycle_event
from addon.simulator._keyserver import KeyServerAddress
from addon.simulator._state import (
    InstallState,
    SimulatorState,
    SiteIdentity,
    load_state,
    new_installation,
    save_state,
)
from tests.cli.test_cli import run
from tests.support.loopback import LoopbackServer

APP_UUID = "5d3a1f0e-8b7c-4e2a-9f61-0c4b2d8e7a93"
APP_ID = f"ari:cloud:ecosystem::app/{APP_UUID}"
CONNECT_ON_FORGE = "ari:cloud:ecosystem::installation/7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


def free_address() -> KeyServerAddress:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return KeyServerAddress("127.0.0.1", probe.getsockname()[1])


@pytest.fixture(scope="module")
def identity() -> ForgeIdentity:
    return ForgeIdentity.generate()


def test_a_token_the_simulator_signs_passes_the_verifier(identity: ForgeIdentity) -> None:
    token = invocation_token(
        identity, app_id=APP_ID, installation_id=identity.installation_id, module_key="forge-tick"
    )

    async def verify(url: str) -> tuple[Invocation, int]:
        async with JwksCache(url) as cache:
            invocation = await verify_invocation(token, app_id=APP_ID, keys=cache, leeway=0)
            return invocation, cache.fetches

    with ForgeKeyServer(free_address(), identity) as server:
        invocation, fetches = asyncio.run(verify(server.url))
        assert server.requests == fetches == 1
    assert invocation.installation_id == identity.installation_id
    assert invocation.cloud_id == identity.cloud_id
    assert invocation.api_base_url == f"https://api.atlassian.com/ex/jira/{identity.cloud_id}"
    assert invocation.app_version == "1.0.0"
    assert invocation.environment_type == "DEVELOPMENT"
    assert invocation.module_key == "forge-tick"
    assert invocation.kid == identity.kid
    assert invocation.token_id is not None and len(invocation.token_id) == 40
    assert invocation.expires_at - invocation.claims["iat"] == 25


def test_the_forge_identity_survives_the_state_file(tmp_path: Path) -> None:
    state = SimulatorState(SiteIdentity.generate()).with_forge()
    path = tmp_path / "simulator.json"
    save_state(path, state)
    loaded = load_state(path)
    assert loaded is not None and loaded.forge == state.forge
    assert loaded.with_forge() is loaded  # generated once, then kept


@pytest.mark.parametrize("envelope", ["top", "payload"])
@pytest.mark.parametrize("event", [e.name for e in descriptor.product_events()])
def test_each_variant_keeps_its_delivery_id_across_retries(event: str, envelope: str) -> None:
    built = forge_event(event, site_url="https://example.atlassian.net", now=1_767_268_800)
    assert built["eventType"] == event
    first = read_event(json.dumps(forge_body(built, envelope=envelope)).encode())
    retried = read_event(json.dumps(forge_body(built, envelope=envelope, retry=1)).encode())
    assert (first.name, retried.name) == (event, event)
    assert (first.retry, retried.retry) == (0, 1)
    assert retried.retry_reason == "TIMEOUT_ERROR"
    assert first.enveloped is retried.enveloped is (envelope == "payload")
    assert retried.delivery_id == first.delivery_id
    other = forge_event(event, site_url="https://example.atlassian.net", now=1_767_268_801)
    assert read_event(json.dumps(forge_body(other)).encode()).delivery_id != (
        read_event(json.dumps(forge_body(built)).encode()).delivery_id
    )


def test_forge_payloads_carry_the_keys_normalise_reads() -> None:
    updated = forge_event("avi:jira:updated:issue")
    keys = descriptor.main_keys("avi:jira:updated:issue", updated)
    assert keys["issue_key"] == "PRJ-1"
    assert keys["project_key"] == "PRJ"
    assert keys["actor"] == updated["atlassianId"]
    assert updated["issue"]["fields"]["reporter"] == {"accountId": updated["atlassianId"]}
    assert "items" in updated["changelog"]
    commented = forge_event("avi:jira:commented:issue")
    assert descriptor.context_values("avi:jira:commented:issue", commented)["comment.id"]
    sprint = forge_event("avi:jira-software:started:sprint")
    assert descriptor.main_keys("avi:jira-software:started:sprint", sprint)["sprint_id"]


def test_the_lifecycle_event_names_the_installation_by_its_uuid() -> None:
    event = lifecycle_event(
        "avi:forge:installed:app",
        installation_id=CONNECT_ON_FORGE,
        app_id=APP_ID,
        cloud_id="c",
        account_id="a",
    )
    assert event["id"] == CONNECT_ON_FORGE.rsplit("/", 1)[-1]
    assert event["app"]["id"] == APP_UUID
    assert event["installerAccountId"] == "a"
    assert event["context"] == "ari:cloud:jira::site/c"


# `addon simulate forge` against a Forge Remote backend that verifies with the Forge door


@dataclass
class Backend:
    """A minimal Forge Remote backend built on `addon.forge`; it records what it verified."""

    jwks_url: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/forge/events", self.receive, methods=["POST"]),
                Route("/forge/tick", self.receive, methods=["POST"]),
                Route("/forge/uninstall", self.receive, methods=["POST"]),
            ]
        )

    async def receive(self, request: Request) -> JSONResponse:
        cache = getattr(self, "_cache", None)
        if cache is None:
            cache = self._cache = JwksCache(self.jwks_url)
        try:
            token = bearer_token(request.headers.get("authorization"))
            invocation = await verify_invocation(token, app_id=APP_ID, keys=cache, leeway=5)
            body = await request.body()
            event = read_event(body) if request.url.path == "/forge/events" else None
            system = read_system_token(request.headers.get("x-forge-oauth-system"))
        except Refusal as refusal:
            return JSONResponse(refusal.to_dict(), status_code=refusal.status)
        self.calls.append(
            {
                "path": request.url.path,
                "installation": invocation.installation_id,
                "event": event,
                "system_token": system,
                "trace": request.headers.get("x-b3-traceid"),
            }
        )
        return JSONResponse({"accepted": True}, status_code=202)


@pytest.fixture
def forge_backend() -> Iterator[tuple[Backend, str, KeyServerAddress]]:
    address = free_address()
    backend = Backend(address.url + "/.well-known/jwks.json")
    with LoopbackServer(backend.app()) as server:
        yield backend, server.url, address


def simulate(state: Path, address: KeyServerAddress, *args: str, addon: str) -> Any:
    return run(
        "simulate",
        "forge",
        *args,
        "--addon",
        addon,
        "--state",
        str(state),
        "--key-server",
        str(address),
        env={"FORGE_APP_ID": APP_UUID, "DATABASE_URL": f"sqlite:///{state.parent}/unused.db"},
        cwd=state.parent,
    )


def test_send_with_retry_and_the_payload_envelope_reaches_the_backend_once_as_one_delivery(
    tmp_path: Path, forge_backend: tuple[Backend, str, KeyServerAddress]
) -> None:
    backend, url, address = forge_backend
    state = tmp_path / "simulator.json"
    site = SimulatorState(SiteIdentity.generate())
    connect = new_installation(
        url, "my-addon", url, "secret", InstallState.INSTALLED, installation_id=CONNECT_ON_FORGE
    )
    save_state(state, site.with_installation(connect))
    sent = simulate(
        state,
        address,
        "send",
        "avi:jira:updated:issue",
        "--retry",
        "--envelope",
        "payload",
        addon=url,
    )
    assert sent.returncode == 0, sent.stderr + sent.stdout
    assert sent.stdout.count("-> 202") == 2
    first, retry = backend.calls
    assert first["installation"] == retry["installation"] == CONNECT_ON_FORGE
    assert first["event"].name == "avi:jira:updated:issue" and first["event"].enveloped
    assert (first["event"].retry, retry["event"].retry) == (0, 1)
    assert first["event"].delivery_id == retry["event"].delivery_id
    assert first["system_token"] is not None and first["trace"]


def test_install_and_tick_without_a_system_token(
    tmp_path: Path, forge_backend: tuple[Backend, str, KeyServerAddress]
) -> None:
    backend, url, address = forge_backend
    state = tmp_path / "simulator.json"
    installed = simulate(state, address, "install", "--no-system-token", addon=url)
    assert installed.returncode == 0, installed.stderr + installed.stdout
    ticked = simulate(state, address, "tick", addon=url)
    assert ticked.returncode == 0, ticked.stderr + ticked.stdout
    install, tick = backend.calls
    forge = load_state(state)
    assert forge is not None and forge.forge is not None
    assert install["installation"] == tick["installation"] == forge.forge.installation_id
    assert install["event"].name == "avi:forge:installed:app"
    assert install["system_token"] is None
    assert tick["path"] == "/forge/tick" and tick["system_token"] is not None


def test_uninstall_calls_the_pre_uninstall_endpoint(
    tmp_path: Path, forge_backend: tuple[Backend, str, KeyServerAddress]
) -> None:
    backend, url, address = forge_backend
    state = tmp_path / "simulator.json"
    gone = simulate(state, address, "uninstall", "--no-system-token", addon=url)
    assert gone.returncode == 0, gone.stderr + gone.stdout
    [call] = backend.calls
    forge = load_state(state)
    assert forge is not None and forge.forge is not None
    assert call["path"] == "/forge/uninstall" and call["event"] is None
    assert call["installation"] == forge.forge.installation_id and call["system_token"] is None


def test_a_backend_for_another_app_refuses_and_the_command_fails(
    tmp_path: Path, forge_backend: tuple[Backend, str, KeyServerAddress]
) -> None:
    backend, url, address = forge_backend
    state = tmp_path / "simulator.json"
    result = run(
        "simulate",
        "forge",
        "tick",
        "--addon",
        url,
        "--state",
        str(state),
        "--key-server",
        str(address),
        env={"FORGE_APP_ID": "00000000-0000-0000-0000-000000000001"},
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "401" in result.stdout and "audience_mismatch" in result.stdout
    assert backend.calls == []


def test_send_refuses_a_name_that_is_not_a_forge_event(tmp_path: Path) -> None:
    result = run(
        "simulate",
        "forge",
        "send",
        "jira:issue_updated",
        "--state",
        str(tmp_path / "s.json"),
        env={"FORGE_APP_ID": APP_UUID},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "is not a Forge product event" in result.stderr


def test_forge_commands_need_forge_app_id(tmp_path: Path) -> None:
    result = run("simulate", "forge", "tick", "--state", str(tmp_path / "s.json"), cwd=tmp_path)
    assert result.returncode == 2
    assert "FORGE_APP_ID" in result.stderr
