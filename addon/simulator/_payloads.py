"""Example webhook bodies for every event in the catalogue, and the overrides `send` applies.

The examples (`addon/_data/examples/<event, ':' as '_'>.json`) were written for this project in
the shape of real Jira Cloud captures. They describe one consistent site: project PRJ (id 10000),
issue PRJ-1 (id 10001), board 1, sprint 1, version 10100, on https://simulated.atlassian.net.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import descriptor
from addon.simulator._errors import SimulatorError

__all__ = [
    "EXAMPLE_SITE_URL",
    "BuiltPayload",
    "build_payload",
    "example_events",
    "example_name",
    "load_example",
    "read_payload_file",
]

EXAMPLE_SITE_URL = "https://simulated.atlassian.net"
ISSUE_KEY_PATHS = ("issue.key",)
PROJECT_KEY_PATHS = ("issue.fields.project.key", "project.key")

_ISSUE_KEY = re.compile(r"([A-Z][A-Z0-9_]*)-([0-9]+)")


@dataclass(frozen=True, slots=True)
class BuiltPayload:
    """A webhook body ready to send, and what could not be applied to it."""

    payload: dict[str, Any]
    notes: tuple[str, ...] = field(default=())


def _examples() -> Traversable:
    return resources.files("addon").joinpath("_data", "examples")


def example_name(event: str) -> str:
    """The example's file name: `jira:issue_updated` -> `jira_issue_updated.json`."""
    return event.replace(":", "_") + ".json"


def example_events() -> list[str]:
    """The catalogue events that have a built-in example."""
    names = {entry.name for entry in _examples().iterdir()}
    return [event.name for event in descriptor.events() if example_name(event.name) in names]


def load_example(event: str) -> dict[str, Any]:
    """The built-in example for `event`; SimulatorError if there is none."""
    entry = _examples().joinpath(example_name(event))
    if not entry.is_file():
        raise SimulatorError(f"there is no built-in example for {event}; pass --payload FILE")
    document = json.loads(entry.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise SimulatorError(f"the built-in example for {event} is not a JSON object")
    return document


def read_payload_file(path: str) -> dict[str, Any]:
    """A webhook body from a JSON file ('-' reads standard input); SimulatorError if unusable."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SimulatorError(f"--payload {path}: cannot read it: {exc}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SimulatorError(f"--payload {path}: not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SimulatorError(f"--payload {path}: a webhook body is a JSON object")
    return document


def build_payload(
    event: str,
    payload: dict[str, Any] | None = None,
    *,
    site_url: str = EXAMPLE_SITE_URL,
    issue: str | None = None,
    project: str | None = None,
    now: float | None = None,
) -> BuiltPayload:
    """The body to send for `event`: `payload` (default: the built-in example), made current.

    In a built-in example, the example site's URL becomes `site_url` and `timestamp` the current
    time. `issue` and `project` replace the issue and project keys wherever the body carries
    them; an issue key alone also sets the project key from its prefix (DEV-7 -> DEV), a project
    key alone re-prefixes the issue key (PRJ-1 -> DEV-1). What the body has no place for is
    reported in `notes`.
    """
    built = copy.deepcopy(payload) if payload is not None else load_example(event)
    if payload is None:
        built = _replace_site(built, EXAMPLE_SITE_URL, site_url.rstrip("/"))
        if "timestamp" in built:
            built["timestamp"] = int((time.time() if now is None else now) * 1000)
    notes: list[str] = []
    issue_key = issue
    project_key = project
    if issue is not None and project is None:
        found = _ISSUE_KEY.fullmatch(issue)
        project_key = found.group(1) if found else None
    if project is not None and issue is None:
        current = _first_string(built, ISSUE_KEY_PATHS)
        found = _ISSUE_KEY.fullmatch(current) if current else None
        issue_key = f"{project}-{found.group(2)}" if found else None
    if issue_key is not None and not _set_all(built, ISSUE_KEY_PATHS, issue_key) and issue:
        notes.append(f"{event} carries no issue key; --issue {issue} was not applied")
    if project_key is not None and not _set_all(built, PROJECT_KEY_PATHS, project_key) and project:
        notes.append(f"{event} carries no project key; --project {project} was not applied")
    return BuiltPayload(built, tuple(notes))


def _replace_site(value: Any, old: str, new: str) -> Any:
    if old == new:
        return value
    if isinstance(value, str):
        return new + value[len(old) :] if value.startswith(old) else value
    if isinstance(value, list):
        return [_replace_site(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace_site(item, old, new) for key, item in value.items()}
    return value


def _parent(document: dict[str, Any], path: str) -> tuple[dict[str, Any], str] | None:
    *steps, last = path.split(".")
    current: Any = document
    for step in steps:
        current = current.get(step) if isinstance(current, dict) else None
    if isinstance(current, dict) and isinstance(current.get(last), str):
        return current, last
    return None


def _first_string(document: dict[str, Any], paths: tuple[str, ...]) -> str | None:
    for path in paths:
        found = _parent(document, path)
        if found is not None:
            parent, name = found
            return str(parent[name])
    return None


def _set_all(document: dict[str, Any], paths: tuple[str, ...], value: str) -> bool:
    """Set the string at each path that exists; whether any did."""
    done = False
    for path in paths:
        found = _parent(document, path)
        if found is not None:
            parent, name = found
            parent[name] = value
            done = True
    return done
