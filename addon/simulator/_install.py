"""The lifecycle as Jira performs it: install (installed, then enabled), secret rotation (a
re-install with a new secret), and uninstall (disabled, then uninstalled).

Installed through Forge (Connect on Forge), the `installed` payload carries the Forge installation
id, and Jira sends no `enabled` or `disabled` at all ("Once your app is registered with Forge, the
enabled and disabled Connect lifecycle events will no longer be sent": Atlassian's "Versioning in
Connect vs Forge"). The installation id is kept in the state for as long as the installation lasts.

`installed` and `uninstalled` are signed with the site's RSA key (RS256, `kid`, `aud` = the
add-on's baseUrl, URL-bound `qsh`), and the add-on fetches the public key from the simulator's key
server, which runs only while those calls are under way. `enabled` and `disabled` are signed with
the shared secret (HS256).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from addon.simulator._addon import (
    DEFAULT_ADDON_URL,
    AddonDescriptor,
    Answer,
    fetch_descriptor,
    http_client,
    signed_post,
)
from addon.simulator._errors import SimulatorError
from addon.simulator._keyserver import KeyServer, KeyServerAddress
from addon.simulator._site import SimulatedSite
from addon.simulator._state import (
    DEFAULT_SITE_URL,
    Installation,
    InstallState,
    SimulatorState,
    SiteIdentity,
    load_state,
    new_installation,
    normalise_addon_url,
    save_state,
)

__all__ = [
    "KEY_REFUSALS",
    "LifecycleRefused",
    "NotInstalled",
    "SeveralInstalled",
    "install",
    "installed_addon",
    "key_server_hint",
    "require_installation",
    "uninstall",
]

Report = Callable[[str], None]

KEY_REFUSALS = frozenset({"unknown_key", "key_server_unavailable"})
"""The add-on's refusal codes that mean it could not get the site's public key."""


class NotInstalled(SimulatorError):
    """The simulated site has no active installation of the add-on at that address."""


class SeveralInstalled(SimulatorError):
    """No add-on was named, and the simulated site has installed more than one."""


class LifecycleRefused(SimulatorError):
    """The add-on refused a lifecycle call; the message carries its reason (and a hint)."""


def key_server_hint(answer: Answer, key_server: KeyServerAddress, asked: bool) -> str | None:
    """What to do when the add-on refused an install because it could not fetch the key."""
    if answer.code not in KEY_REFUSALS:
        return None
    hint = f"start the add-on with CONNECT_INSTALL_KEYS_URL={key_server.url}"
    if not asked:
        hint += " (it asked another key server)"
    return hint


def installed_addon(state: SimulatorState | None, state_path: Path) -> str:
    """The URL of the one add-on the site has installed; what to run when there is not one."""
    installations = state.installations if state is not None else ()
    active = [i.addon_url for i in installations if i.active]
    if len(active) == 1:
        return active[0]
    if active:
        raise SeveralInstalled(
            f"the simulated site in {state_path} has installed several add-ons"
            f" ({', '.join(active)}); choose one with --addon URL"
        )
    latest = max(installations, key=lambda i: i.updated_at, default=None)
    url = latest.addon_url if latest is not None else DEFAULT_ADDON_URL
    raise NotInstalled(
        f"the simulated site in {state_path} has no add-on installed;"
        f" run: addon simulate install --addon {url}"
    )


def require_installation(
    state: SimulatorState | None, addon_url: str | None, state_path: Path
) -> tuple[SimulatorState, Installation]:
    """The active installation of the add-on at `addon_url` (None: the only one installed), or
    NotInstalled saying what to run."""
    if addon_url is None:
        addon_url = installed_addon(state, state_path)
    installation = state.installation(addon_url) if state is not None else None
    if state is None or installation is None or not installation.active:
        url = normalise_addon_url(addon_url)
        others = [i.addon_url for i in (state.installations if state else ()) if i.active]
        elsewhere = f" (it has installed: {', '.join(others)})" if others else ""
        done = "uninstalled" if installation is not None else "has not installed"
        raise NotInstalled(
            f"the simulated site in {state_path} {done} the add-on at {url}{elsewhere};"
            f" run: addon simulate install --addon {url}"
        )
    return state, installation


async def install(
    *,
    state_path: Path,
    addon_url: str | None,
    key_server: KeyServerAddress,
    report: Report,
    site_url: str | None = None,
    rotate: bool = False,
    forge: bool = False,
) -> SimulatorState:
    """Install (with `rotate`: re-install with a new secret; with `forge`: as Forge installs a
    Connect app), saving the state after each step.

    Without `addon_url`, install at DEFAULT_ADDON_URL, and rotate the only add-on installed.
    """
    state = load_state(state_path)
    target = addon_url or DEFAULT_ADDON_URL
    if rotate:
        state, installed = require_installation(state, addon_url, state_path)
        target = installed.addon_url
    elif state is None:
        state = SimulatorState(SiteIdentity.generate(site_url or DEFAULT_SITE_URL))
        site_identity = state.site
        report(
            f"created the simulated site {site_identity.base_url}"
            f" (clientKey {site_identity.client_key})"
        )
        save_state(state_path, state)
    elif site_url and site_url.rstrip("/") != state.site.base_url:
        state = state.with_site_url(site_url)
        report(f"the simulated site is now at {state.site.base_url}")
    async with http_client() as client:
        addon = await fetch_descriptor(client, target)
        if "installed" not in addon.lifecycle:
            raise SimulatorError(
                f"the descriptor of {addon.key} declares no lifecycle.installed URL,"
                " so the site cannot tell it its shared secret"
            )
        existing = state.installation(addon.addon_url)
        kept = None
        if not rotate and existing is not None and existing.addon_key == addon.key:
            kept = existing.shared_secret
        installation_id = _installation_id(existing, addon.key, forge=forge, rotate=rotate)
        site = state.site.site(kept or SimulatedSite.new_secret(), installation_id)
        if rotate:
            verb = "re-installing with a new shared secret"
        else:
            verb = "re-installing (same shared secret)" if kept else "installing"
        through = f" through Forge (installationId {installation_id})" if installation_id else ""
        report(
            f"{verb}{through}: add-on {addon.key} (baseUrl {addon.base_url}) on {site.base_url}"
            f" (clientKey {site.client_key})"
        )
        if existing is not None:
            await _past_the_second_of(existing.updated_at)
        await _signed_install_call(client, addon, site, "installed", key_server, report)
        state = state.with_installation(
            new_installation(
                addon.addon_url,
                addon.key,
                addon.base_url,
                site.shared_secret,
                InstallState.INSTALLED,
                installation_id,
            )
        )
        save_state(state_path, state)
        if rotate:
            report("the shared secret was rotated; the add-on now refuses the old one")
        elif installation_id is not None:
            report("no enabled follows: Jira sends none to an app installed through Forge")
        elif "enabled" in addon.lifecycle:
            answer = await signed_post(
                client,
                addon,
                addon.url_for(addon.lifecycle["enabled"]),
                site.lifecycle_payload("enabled", addon.key),
                _hs256(site, addon),
            )
            report(f"enabled: {answer.describe()}")
            if not answer.ok:
                raise LifecycleRefused(f"the add-on refused enabled: {_reason(answer)}")
            state = _with_state(state, addon.addon_url, InstallState.ENABLED)
            save_state(state_path, state)
    report(f"state saved in {state_path}")
    return state


async def uninstall(
    *, state_path: Path, addon_url: str | None, key_server: KeyServerAddress, report: Report
) -> SimulatorState:
    """disabled (HS256), then uninstalled (RS256); the site then forgets the shared secret."""
    state, installation = require_installation(load_state(state_path), addon_url, state_path)
    assert installation.shared_secret is not None
    site = state.site.site(installation.shared_secret, installation.installation_id)
    async with http_client() as client:
        addon = await fetch_descriptor(client, installation.addon_url)
        if "disabled" in addon.lifecycle and installation.installation_id is None:
            answer = await signed_post(
                client,
                addon,
                addon.url_for(addon.lifecycle["disabled"]),
                site.lifecycle_payload("disabled", installation.addon_key),
                _hs256(site, addon),
            )
            report(f"disabled: {answer.describe()}")
        if "uninstalled" in addon.lifecycle:
            await _signed_install_call(client, addon, site, "uninstalled", key_server, report)
    forgotten = dataclasses.replace(
        installation, shared_secret=None, state=InstallState.UNINSTALLED, updated_at=time.time()
    )
    state = state.with_installation(forgotten)
    save_state(state_path, state)
    report(f"uninstalled; the simulated site forgot the shared secret (state in {state_path})")
    return state


async def _signed_install_call(
    client: httpx.AsyncClient,
    addon: AddonDescriptor,
    site: SimulatedSite,
    name: str,
    key_server: KeyServerAddress,
    report: Report,
) -> Answer:
    """installed or uninstalled, RS256-signed, with the key server up for the add-on to ask."""

    def token_for(target: str) -> str:
        return site.install_token(addon_base_url=addon.base_url, target=target)

    with KeyServer(key_server, {site.kid: site.public_key_pem}) as keys:
        answer = await signed_post(
            client,
            addon,
            addon.url_for(addon.lifecycle[name]),
            site.lifecycle_payload(name, addon.key),
            token_for,
        )
    report(f"{name}: {answer.describe()}")
    if not answer.ok:
        hint = key_server_hint(answer, key_server, asked=site.kid in keys.requested)
        if hint is None:
            raise LifecycleRefused(f"the add-on refused {name}: {_reason(answer)}")
        raise LifecycleRefused(
            f"the add-on refused {name} ({answer.status} {answer.code}), as it could not fetch"
            f" the site's public key: {hint}"
        )
    return answer


def _installation_id(
    existing: Installation | None, addon_key: str, *, forge: bool, rotate: bool
) -> str | None:
    """The Forge installation id to send: the one in force, kept across a re-install or a secret
    rotation; a new one for a new Forge installation; none for an install from the descriptor."""
    current = None
    if existing is not None and existing.active and existing.addon_key == addon_key:
        current = existing.installation_id
    if rotate:
        return current
    if not forge:
        return None
    return current or SimulatedSite.new_installation_id()


async def _past_the_second_of(moment: float) -> None:
    """Wait until the clock has left the second of `moment` (the site's last lifecycle change).

    Tokens carry whole seconds and no nonce: a re-install signed in the same second as the last
    change would be refused, as a replay (the same token with another secret) or as signed no
    later than an uninstall. Jira never re-installs that fast; a script driving the simulator may.
    """
    delay = math.floor(moment) + 1 - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


def _hs256(site: SimulatedSite, addon: AddonDescriptor) -> Callable[[str], str]:
    def token_for(target: str) -> str:
        return site.token(addon_base_url=addon.base_url, target=target)

    return token_for


def _reason(answer: Answer) -> str:
    if answer.code or answer.reason:
        return f"{answer.status} {answer.code or 'error'}: {answer.reason or ''}".rstrip(": ")
    return f"HTTP {answer.status}"


def _with_state(state: SimulatorState, addon_url: str, value: InstallState) -> SimulatorState:
    current = state.installation(addon_url)
    assert current is not None
    return state.with_installation(
        dataclasses.replace(current, state=value, updated_at=time.time())
    )
