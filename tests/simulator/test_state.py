"""The simulator's state file: private, atomic, and refused when it cannot be trusted."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from addon.simulator import DEFAULT_STATE_PATH
from addon.simulator._state import (
    InstallState,
    SimulatorState,
    SiteIdentity,
    StateError,
    load_state,
    new_installation,
    normalise_addon_url,
    save_state,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture(scope="module")
def identity() -> SiteIdentity:
    return SiteIdentity.generate()


def _state(identity: SiteIdentity) -> SimulatorState:
    installation = new_installation(
        "http://127.0.0.1:8000/",
        "my-addon",
        "http://localhost:8000",
        "s3cret",
        InstallState.ENABLED,
    )
    return SimulatorState(identity).with_installation(installation)


def test_the_default_path_is_per_user() -> None:
    assert Path("~/.config/jira-connect-addon/simulator.json") == DEFAULT_STATE_PATH


def test_a_missing_file_is_no_state(tmp_path: Path) -> None:
    assert load_state(tmp_path / "nothing.json") is None


def test_saved_state_loads_back(tmp_path: Path, identity: SiteIdentity) -> None:
    path = tmp_path / "state.json"
    state = _state(identity)
    save_state(path, state)
    assert load_state(path) == state
    loaded = load_state(path)
    assert loaded is not None
    installation = loaded.installation("HTTP://127.0.0.1:8000")
    assert installation is not None and installation.shared_secret == "s3cret"
    assert installation.state is InstallState.ENABLED and installation.active


@posix_only
def test_the_file_and_its_new_directories_are_private(
    tmp_path: Path, identity: SiteIdentity
) -> None:
    path = tmp_path / "config" / "jira-connect-addon" / "simulator.json"
    save_state(path, _state(identity))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "config").stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["simulator.json"]


@posix_only
def test_rewriting_keeps_the_file_private(tmp_path: Path, identity: SiteIdentity) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}")
    path.chmod(0o600)
    save_state(path, _state(identity))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@posix_only
def test_a_file_others_can_read_is_refused(tmp_path: Path, identity: SiteIdentity) -> None:
    path = tmp_path / "state.json"
    save_state(path, _state(identity))
    path.chmod(0o644)
    with pytest.raises(StateError, match=r"chmod 600"):
        load_state(path)


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"format": 99}', '{"format": 1, "site": {"clientKey": ""}}'],
)
def test_a_file_that_is_not_a_state_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(StateError, match=str(path)):
        load_state(path)


def test_an_unknown_installation_state_is_refused(tmp_path: Path, identity: SiteIdentity) -> None:
    path = tmp_path / "state.json"
    save_state(path, _state(identity))
    document = json.loads(path.read_text())
    document["installations"][0]["state"] = "confused"
    path.write_text(json.dumps(document))
    with pytest.raises(StateError, match="not a simulator state file"):
        load_state(path)


def test_an_unwritable_place_is_one_error(tmp_path: Path, identity: SiteIdentity) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match="cannot write"):
        save_state(blocker / "state.json", _state(identity))


def test_one_installation_per_addon_url(identity: SiteIdentity) -> None:
    state = _state(identity)
    again = new_installation(
        "http://127.0.0.1:8000", "my-addon", "http://localhost:8000", "new", InstallState.INSTALLED
    )
    other = new_installation(
        "http://127.0.0.1:9000", "other", "http://127.0.0.1:9000", "x", InstallState.ENABLED
    )
    updated = state.with_installation(again).with_installation(other)
    assert [i.addon_url for i in updated.installations] == [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:9000",
    ]
    found = updated.installation("http://127.0.0.1:8000")
    assert found is not None and found.shared_secret == "new"


def test_addon_urls_are_normalised() -> None:
    assert normalise_addon_url(" HTTP://LocalHost:8000/jira/ ") == "http://localhost:8000/jira"


def test_a_site_rename_keeps_its_identity(identity: SiteIdentity) -> None:
    renamed = _state(identity).with_site_url("https://renamed.atlassian.net/")
    assert renamed.site.base_url == "https://renamed.atlassian.net"
    assert renamed.site.client_key == identity.client_key and renamed.site.kid == identity.kid


def test_the_site_signs_with_the_installations_secret(identity: SiteIdentity) -> None:
    site = identity.site("per-addon secret")
    assert site.shared_secret == "per-addon secret"
    assert site.client_key == identity.client_key
    assert site.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
