"""Status and priority maps: local values to Jira status categories and priority names.

Jira's status categories are compared by key (`new`, `indeterminate`, `done`, `undefined`), never
by name: the names are localised ("Fertig", "Готово") and older sites show "New" or "Complete"
(real payloads; notes B5, Jira REST v3 "Workflow status categories").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from addon.sync._errors import MapError

__all__ = [
    "CATEGORIES",
    "DEFAULT_PRIORITIES",
    "DEFAULT_STATUSES",
    "MAX_NAME",
    "StatusTarget",
    "dump_priorities",
    "dump_statuses",
    "load_priorities",
    "load_statuses",
    "local_status_for",
    "parse_priorities",
    "parse_statuses",
]

CATEGORIES = ("new", "indeterminate", "done")
"""The categories a local status may map to; `undefined` ("No Category") maps to nothing."""

MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class StatusTarget:
    """Where a local status goes in Jira: a category, optionally one status of it by id."""

    category: str
    status_id: str | None = None

    def __str__(self) -> str:
        return self.category if self.status_id is None else f"{self.category}/{self.status_id}"


DEFAULT_STATUSES: Mapping[str, StatusTarget] = {
    "Open": StatusTarget("new"),
    "In Progress": StatusTarget("indeterminate"),
    "Resolved": StatusTarget("done"),
    "Closed": StatusTarget("done"),
}
DEFAULT_PRIORITIES: Mapping[str, str] = {
    "Low": "Low",
    "Medium": "Medium",
    "High": "High",
    "Urgent": "Highest",
}


def _pairs(text: str, option: str, example: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        local, equals, jira = part.partition("=")
        local, jira = local.strip(), jira.strip()
        if not equals or not local or not jira:
            raise MapError(f"{option}: {part.strip()!r} is not LOCAL=JIRA (e.g. {example})")
        if len(local) > MAX_NAME or len(jira) > MAX_NAME:
            raise MapError(f"{option}: {part.strip()!r}: names are at most {MAX_NAME} characters")
        if local in dict(pairs):
            raise MapError(f"{option}: {local!r} is mapped twice")
        pairs.append((local, jira))
    if not pairs:
        raise MapError(f"{option}: empty; give LOCAL=JIRA pairs separated by commas ({example})")
    return pairs


def parse_statuses(text: str) -> dict[str, StatusTarget]:
    """`Open=new,Doing=indeterminate/10001,Done=done`: a category key, optionally `/STATUS_ID`."""
    example = "Open=new,Doing=indeterminate,Done=done/10002"
    statuses: dict[str, StatusTarget] = {}
    for local, jira in _pairs(text, "--statuses", example):
        category, _, status_id = jira.partition("/")
        if category not in CATEGORIES:
            raise MapError(
                f"--statuses: {local}={jira}: {category!r} is not a status category key; use one "
                f"of {', '.join(CATEGORIES)} (the keys, never the localised names)"
            )
        if "/" in jira and not status_id.isdigit():
            raise MapError(f"--statuses: {local}={jira}: a status id is a number, e.g. done/10002")
        statuses[local] = StatusTarget(category, status_id or None)
    return statuses


def parse_priorities(text: str) -> dict[str, str]:
    """`Low=Low,Urgent=Highest`: local priority to the Jira priority's name on that site."""
    return dict(_pairs(text, "--priorities", "Low=Low,Urgent=Highest"))


def local_status_for(
    statuses: Mapping[str, StatusTarget], category: str, status_id: str | None
) -> str | None:
    """The local status for a Jira status: one mapped to that very status id, else the first
    mapped to its category (without a specific id); None for `undefined` or an unmapped one."""
    for local, target in statuses.items():
        if status_id is not None and target.status_id == status_id:
            return local
    for local, target in statuses.items():
        if target.category == category and target.status_id is None:
            return local
    for local, target in statuses.items():
        if target.category == category:
            return local
    return None


def dump_statuses(statuses: Mapping[str, StatusTarget]) -> str:
    return json.dumps({k: [v.category, v.status_id] for k, v in statuses.items()})


def load_statuses(text: str) -> dict[str, StatusTarget]:
    return {k: StatusTarget(c, s) for k, (c, s) in json.loads(text).items()}


def dump_priorities(priorities: Mapping[str, str]) -> str:
    return json.dumps(dict(priorities))


def load_priorities(text: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(text).items()}
