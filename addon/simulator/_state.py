"""The simulator's state file: the site's identity and signing key, and one installation per add-on.

The file is JSON, written atomically and readable only by its owner (mode 0600, in a directory
created with mode 0700), because it holds an RSA private key and shared secrets. A file that
others can read is refused, as ssh refuses such a key.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from addon.simulator._errors import SimulatorError
from addon.simulator._forge_keys import ForgeIdentity
from addon.simulator._site import SimulatedSite

__all__ = [
    "DEFAULT_SITE_URL",
    "DEFAULT_STATE_PATH",
    "InstallState",
    "Installation",
    "SimulatorState",
    "SiteIdentity",
    "StateError",
    "load_state",
    "new_installation",
    "normalise_addon_url",
    "save_state",
]

DEFAULT_STATE_PATH = Path("~/.config/jira-connect-addon/simulator.json")
DEFAULT_SITE_URL = "https://simulated.atlassian.net"
FORMAT = 1


class StateError(SimulatorError):
    """The state file cannot be read or written, or is not a simulator state file."""


class InstallState(enum.StrEnum):
    """What the simulated site last told an add-on."""

    INSTALLED = "installed"
    ENABLED = "enabled"
    UNINSTALLED = "uninstalled"


@dataclass(frozen=True, slots=True)
class SiteIdentity:
    """The simulated Jira site: clientKey, baseUrl and install signing key (kid, RSA pair)."""

    client_key: str
    base_url: str
    kid: str
    private_key_pem: str
    public_key_pem: str

    @classmethod
    def generate(cls, base_url: str = DEFAULT_SITE_URL) -> SiteIdentity:
        site = SimulatedSite.generate(base_url.rstrip("/"))
        return cls(
            site.client_key, site.base_url, site.kid, site.private_key_pem, site.public_key_pem
        )

    def site(self, shared_secret: str, installation_id: str | None = None) -> SimulatedSite:
        """The site as it stands toward one add-on: this identity, that add-on's secret and, when
        Forge installed it, its installation id."""
        return SimulatedSite(
            client_key=self.client_key,
            base_url=self.base_url,
            shared_secret=shared_secret,
            kid=self.kid,
            private_key_pem=self.private_key_pem,
            public_key_pem=self.public_key_pem,
            installation_id=installation_id,
        )


@dataclass(frozen=True, slots=True)
class Installation:
    """The site's installation of one add-on, keyed by the URL the add-on was reached at."""

    addon_url: str
    addon_key: str
    addon_base_url: str
    shared_secret: str | None
    state: InstallState
    updated_at: float
    installation_id: str | None = None
    """The Forge installation id when Forge installed the add-on (`install --forge`)."""

    @property
    def active(self) -> bool:
        return self.state != InstallState.UNINSTALLED and self.shared_secret is not None


@dataclass(frozen=True, slots=True)
class SimulatorState:
    site: SiteIdentity
    installations: tuple[Installation, ...] = ()
    forge: ForgeIdentity | None = None
    """The simulated Forge (its signing key, the site's cloudId), once a Forge command ran."""

    def installation(self, addon_url: str) -> Installation | None:
        wanted = normalise_addon_url(addon_url)
        return next((i for i in self.installations if i.addon_url == wanted), None)

    def with_installation(self, installation: Installation) -> SimulatorState:
        others = tuple(i for i in self.installations if i.addon_url != installation.addon_url)
        return replace(self, installations=(*others, installation))

    def with_forge(self) -> SimulatorState:
        """This state with a simulated Forge, generated the first time."""
        return self if self.forge is not None else replace(self, forge=ForgeIdentity.generate())

    def with_site_url(self, base_url: str) -> SimulatorState:
        """The same site (clientKey, key) under another baseUrl, as after a site rename."""
        return replace(self, site=replace(self.site, base_url=base_url.rstrip("/")))


def normalise_addon_url(url: str) -> str:
    """The add-on URL as the state file keys it: scheme and host lower-cased, no trailing '/'."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


def new_installation(
    addon_url: str,
    addon_key: str,
    addon_base_url: str,
    shared_secret: str | None,
    state: InstallState,
    installation_id: str | None = None,
) -> Installation:
    return Installation(
        addon_url=normalise_addon_url(addon_url),
        addon_key=addon_key,
        addon_base_url=addon_base_url,
        shared_secret=shared_secret,
        state=state,
        updated_at=time.time(),
        installation_id=installation_id,
    )


def load_state(path: Path) -> SimulatorState | None:
    """The state in `path`, or None if there is no such file; StateError if it cannot be used."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read the simulator state {path}: {exc.strerror}") from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StateError(
            f"the simulator state {path} is accessible to other users and holds a private key;"
            f" run: chmod 600 {path}"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StateError(f"cannot read the simulator state {path}: {exc}") from None
    try:
        return _from_document(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(
            f"{path} is not a simulator state file ({exc}); move it away to start afresh"
        ) from None


def save_state(path: Path, state: SimulatorState) -> None:
    """Write atomically: a new 0600 file beside the old one, then renamed over it."""
    text = json.dumps(_to_document(state), indent=2, sort_keys=True) + "\n"
    try:
        _make_private_directory(path.parent)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            os.chmod(temporary, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StateError(f"cannot write the simulator state {path}: {reason}") from None


def _make_private_directory(directory: Path) -> None:
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700)


def _to_document(state: SimulatorState) -> dict[str, Any]:
    site = state.site
    document: dict[str, Any] = {
        "format": FORMAT,
        "site": {
            "clientKey": site.client_key,
            "baseUrl": site.base_url,
            "kid": site.kid,
            "privateKey": site.private_key_pem,
            "publicKey": site.public_key_pem,
        },
        "installations": [
            {
                "addonUrl": i.addon_url,
                "addonKey": i.addon_key,
                "addonBaseUrl": i.addon_base_url,
                "sharedSecret": i.shared_secret,
                "state": i.state.value,
                "updatedAt": i.updated_at,
                "installationId": i.installation_id,
            }
            for i in state.installations
        ],
    }
    if state.forge is not None:
        forge = state.forge
        document["forge"] = {
            "kid": forge.kid,
            "privateKey": forge.private_key_pem,
            "jwk": forge.jwk,
            "cloudId": forge.cloud_id,
            "installationId": forge.installation_id,
        }
    return document


def _from_document(document: object) -> SimulatorState:
    if not isinstance(document, Mapping):
        raise TypeError("not a JSON object")
    if document.get("format") != FORMAT:
        raise ValueError(f"format {document.get('format')!r}, expected {FORMAT}")
    site = document["site"]
    if not isinstance(site, Mapping):
        raise TypeError("site is not an object")
    identity = SiteIdentity(
        client_key=_text(site, "clientKey"),
        base_url=_text(site, "baseUrl"),
        kid=_text(site, "kid"),
        private_key_pem=_text(site, "privateKey"),
        public_key_pem=_text(site, "publicKey"),
    )
    entries = document.get("installations", [])
    if not isinstance(entries, list):
        raise TypeError("installations is not a list")
    installations = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise TypeError("an installation is not an object")
        secret = entry.get("sharedSecret")
        if secret is not None and not isinstance(secret, str):
            raise TypeError("sharedSecret is not a string")
        state = InstallState(_text(entry, "state"))
        updated = entry.get("updatedAt", 0.0)
        if not isinstance(updated, int | float):
            raise TypeError("updatedAt is not a number")
        installation_id = entry.get("installationId")
        if installation_id is not None and not isinstance(installation_id, str):
            raise TypeError("installationId is not a string")
        installations.append(
            Installation(
                addon_url=normalise_addon_url(_text(entry, "addonUrl")),
                addon_key=_text(entry, "addonKey"),
                addon_base_url=_text(entry, "addonBaseUrl"),
                shared_secret=secret,
                state=state,
                updated_at=float(updated),
                installation_id=installation_id,
            )
        )
    return SimulatorState(identity, tuple(installations), _forge(document.get("forge")))


def _forge(entry: object) -> ForgeIdentity | None:
    if entry is None:
        return None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("jwk"), Mapping):
        raise TypeError("forge is not an object with a jwk")
    return ForgeIdentity(
        kid=_text(entry, "kid"),
        private_key_pem=_text(entry, "privateKey"),
        jwk=dict(entry["jwk"]),
        cloud_id=_text(entry, "cloudId"),
        installation_id=_text(entry, "installationId"),
    )


def _text(entry: Mapping[str, Any], name: str) -> str:
    value = entry[name]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} is not a non-empty string")
    return value
