"""Acting as Forge toward a running add-on: its Forge Remote calls, as Forge makes them.

    addon simulate forge install            # avi:forge:installed:app to ADDON/forge/events
    addon simulate forge send EVENT         # a product event (avi:jira:updated:issue, ...)
    addon simulate forge tick               # the hourly scheduled trigger, to ADDON/forge/tick
    addon simulate forge uninstall          # the preUninstall call, to ADDON/forge/uninstall

Each call carries a Forge Invocation Token signed with the simulated Forge key (served as a JWKS
on 127.0.0.1:8766 while the command runs; start the add-on with FORGE_JWKS_URL pointing there),
B3 trace headers, and, unless turned off, a system token in `x-forge-oauth-system`. The
installation is the Connect-on-Forge installation of the add-on in the same state file when there
is one (`addon simulate install --forge`), else the simulated Forge's own.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from addon.simulator._addon import DEFAULT_ADDON_URL, Answer, answer_of, http_client, unreachable
from addon.simulator._forge_keys import (
    DEFAULT_FORGE_KEY_SERVER,
    ForgeIdentity,
    ForgeKeyServer,
    invocation_token,
    system_token,
)
from addon.simulator._forge_payloads import forge_body, forge_event, lifecycle_event
from addon.simulator._keyserver import KeyServerAddress
from addon.simulator._state import (
    SimulatorState,
    SiteIdentity,
    load_state,
    normalise_addon_url,
    save_state,
)

__all__ = [
    "ForgeCall",
    "ForgeTarget",
    "forge_install",
    "forge_send",
    "forge_tick",
    "forge_uninstall",
]

Report = Callable[[str], None]

EVENTS_PATH = "/forge/events"
TICK_PATH = "/forge/tick"
UNINSTALL_PATH = "/forge/uninstall"
UNINSTALL_ENDPOINT = "forge-uninstall"
UNINSTALL_KEY = "forge-pre-uninstall"
EVENTS_ENDPOINT = "forge-events"
TICK_ENDPOINT = "forge-tick"
SCHEDULE_KEY = "forge-hourly"
INSTALLER = "712020:4a1f6c2e-8d3b-4f7a-9c0e-5b2d8e6f1a30"
"""The accountId of the built-in examples' user, who installs the app."""


@dataclass(frozen=True, slots=True)
class ForgeCall:
    """How a call is made: the envelope of the event, a retry after it, a system token or not."""

    envelope: str = "top"
    retry: bool = False
    system_token: bool = True


@dataclass(frozen=True, slots=True)
class ForgeTarget:
    """Where the calls go and for which app: the add-on's URL, FORGE_APP_ID, the key server."""

    state_path: Path
    app_id: str
    addon_url: str | None = None
    key_server: KeyServerAddress = field(
        default_factory=lambda: KeyServerAddress.parse(DEFAULT_FORGE_KEY_SERVER)
    )


async def forge_install(target: ForgeTarget, report: Report, call: ForgeCall) -> list[Answer]:
    """Send `avi:forge:installed:app` for the installation."""
    state, installation_id = _prepare(target)
    assert state.forge is not None
    event = lifecycle_event(
        "avi:forge:installed:app",
        installation_id=installation_id,
        app_id=target.app_id,
        cloud_id=state.forge.cloud_id,
        account_id=INSTALLER,
    )
    return await _deliver(target, state, installation_id, EVENTS_PATH, event, call, report)


async def forge_send(
    target: ForgeTarget, event_name: str, report: Report, call: ForgeCall
) -> list[Answer]:
    """Send one product event (and its retry, with `call.retry`)."""
    state, installation_id = _prepare(target)
    event = forge_event(event_name, site_url=state.site.base_url)
    return await _deliver(target, state, installation_id, EVENTS_PATH, event, call, report)


async def forge_tick(target: ForgeTarget, report: Report, call: ForgeCall) -> list[Answer]:
    """Call the hourly scheduled trigger's endpoint.

    The body of a scheduled trigger sent to a remote is not on Atlassian's pages; a function's
    gets `context: {cloudId, moduleKey}`, so that is sent (the add-on reads nothing from it).
    """
    state, installation_id = _prepare(target)
    assert state.forge is not None
    body = {"context": {"cloudId": state.forge.cloud_id, "moduleKey": SCHEDULE_KEY}}
    once = ForgeCall(envelope="top", retry=False, system_token=call.system_token)
    return await _deliver(target, state, installation_id, TICK_PATH, body, once, report)


async def forge_uninstall(target: ForgeTarget, report: Report, call: ForgeCall) -> list[Answer]:
    """Call the `preUninstall` endpoint, as Forge does before it uninstalls the app.

    A function's `preUninstall` gets `context: {cloudId, moduleKey}` and a `contextToken`
    ("preUninstall" manifest reference); the remote's body is not documented, so the context is
    sent (the add-on reads the installation from the token, nothing from the body).
    """
    state, installation_id = _prepare(target)
    assert state.forge is not None
    body = {"context": {"cloudId": state.forge.cloud_id, "moduleKey": UNINSTALL_KEY}}
    once = ForgeCall(envelope="top", retry=False, system_token=call.system_token)
    return await _deliver(target, state, installation_id, UNINSTALL_PATH, body, once, report)


def _prepare(target: ForgeTarget) -> tuple[SimulatorState, str]:
    """The state (with a simulated Forge, saved) and the installation id the calls are for."""
    state = load_state(target.state_path) or SimulatorState(SiteIdentity.generate())
    if state.forge is None:
        state = state.with_forge()
        save_state(target.state_path, state)
    assert state.forge is not None
    return state, _installation_id(state, target.addon_url) or state.forge.installation_id


def _installation_id(state: SimulatorState, addon_url: str | None) -> str | None:
    """The Forge installation id of the add-on's Connect-on-Forge install in this state, if any."""
    candidates = [i for i in state.installations if i.active and i.installation_id]
    if addon_url is not None:
        wanted = normalise_addon_url(addon_url)
        candidates = [i for i in candidates if i.addon_url == wanted]
    return candidates[0].installation_id if len(candidates) == 1 else None


def _addon_url(state: SimulatorState, addon_url: str | None) -> str:
    if addon_url is not None:
        return normalise_addon_url(addon_url)
    forged = [i.addon_url for i in state.installations if i.active and i.installation_id]
    return forged[0] if len(forged) == 1 else DEFAULT_ADDON_URL


async def _deliver(
    target: ForgeTarget,
    state: SimulatorState,
    installation_id: str,
    path: str,
    event: Mapping[str, Any],
    call: ForgeCall,
    report: Report,
) -> list[Answer]:
    assert state.forge is not None
    url = _addon_url(state, target.addon_url) + path
    module_key = {TICK_PATH: TICK_ENDPOINT, UNINSTALL_PATH: UNINSTALL_ENDPOINT}.get(
        path, EVENTS_ENDPOINT
    )
    attempts = [0, 1] if call.retry else [0]
    answers = []
    with ForgeKeyServer(target.key_server, state.forge):
        async with http_client() as client:
            for retry in attempts:
                body = forge_body(dict(event), envelope=call.envelope, retry=retry)
                headers = _headers(state.forge, target.app_id, installation_id, module_key, call)
                answer = await _post(client, url, body, headers)
                report(answer.describe())
                answers.append(answer)
    return answers


def _headers(
    forge: ForgeIdentity, app_id: str, installation_id: str, module_key: str, call: ForgeCall
) -> dict[str, str]:
    token = invocation_token(
        forge, app_id=app_id, installation_id=installation_id, module_key=module_key
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "x-b3-traceid": secrets.token_hex(16),
        "x-b3-spanid": secrets.token_hex(8),
    }
    if call.system_token:
        headers["x-forge-oauth-system"] = system_token()
    return headers


async def _post(
    client: httpx.AsyncClient, url: str, body: Mapping[str, Any], headers: Mapping[str, str]
) -> Answer:
    request = client.build_request(
        "POST", url, content=json.dumps(body, separators=(",", ":")).encode(), headers=headers
    )
    started = time.perf_counter()
    try:
        response = await client.send(request)
    except httpx.TransportError as exc:
        raise unreachable(url.rsplit("/forge/", 1)[0], exc) from None
    return answer_of(request, response, time.perf_counter() - started)
