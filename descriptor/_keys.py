"""The normalised view's main keys of an event: the issue, project and sprint it names, and who acted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from descriptor._catalogue import Event, events, first_value, value_at

__all__ = ["main_keys"]


@dataclass(frozen=True, slots=True)
class _Keys:
    """Where an event's main keys live, and the user objects that may name its actor."""

    issue_key: tuple[str, ...] = ()
    project_key: tuple[str, ...] = ()
    sprint_id: tuple[str, ...] = ()
    actors: tuple[str, ...] = ("user",)


_UNKNOWN_KEYS = _Keys(
    issue_key=("issue.key",),
    project_key=("issue.fields.project.key", "project.key"),
    sprint_id=("sprint.id",),
)


def _authored(entity: str, action: str) -> tuple[str, ...]:
    """Who changed an authored entity: the top-level `user`, else the entity's author fields.

    A deletion names its actor only in `user`: the entity's author is not who deleted it.
    """
    if action == "created":
        return ("user", f"{entity}.author", f"{entity}.updateAuthor")
    if action == "updated":
        return ("user", f"{entity}.updateAuthor", f"{entity}.author")
    return ("user",)


def _keys_for(event: Event) -> _Keys:
    issue_key = ("issue.key",)
    issue_project_key = ("issue.fields.project.key",)
    match event.resource:
        case "issue":
            return _Keys(issue_key, issue_project_key)
        case "comment":
            return _Keys(issue_key, issue_project_key, actors=_authored("comment", event.action))
        case "worklog" if event.name == "jira:worklog_updated":
            return _Keys(issue_key, issue_project_key)
        case "worklog":
            return _Keys(actors=_authored("worklog", event.action))
        case "attachment":
            actors = ("user", "attachment.author") if event.action == "created" else ("user",)
            return _Keys(issue_key, issue_project_key, actors=actors)
        case "project":
            return _Keys(project_key=("project.key",))
        case "sprint":
            return _Keys(sprint_id=("sprint.id",))
        case "user":
            return _Keys(actors=())
        case _:
            return _Keys()


_KEYS: Mapping[str, _Keys] = MappingProxyType({event.name: _keys_for(event) for event in events()})


def main_keys(event_name: str, payload: object) -> dict[str, str | None]:
    """The normalised view's main keys: issue_key, project_key, sprint_id, actor_account_id, actor.

    `actor` is the acting user's accountId, else (Data Center) their name, else their key. In user
    events `user` is the subject, not the actor, so they have none. Every key is always present;
    values may be None. Never raises.
    """
    keys = _KEYS.get(event_name, _UNKNOWN_KEYS)
    project_key = first_value(payload, keys.project_key)
    if (
        project_key is None
        and event_name == "board_configuration_changed"
        and value_at(payload, "configuration.location.type") == "project"
    ):
        project_key = value_at(payload, "configuration.location.key")
    account_id: str | None = None
    actor: str | None = None
    for path in keys.actors:
        account_id = value_at(payload, f"{path}.accountId")
        actor = account_id or first_value(payload, (f"{path}.name", f"{path}.key"))
        if actor is not None:
            break
    return {
        "issue_key": first_value(payload, keys.issue_key),
        "project_key": project_key,
        "sprint_id": first_value(payload, keys.sprint_id),
        "actor_account_id": account_id,
        "actor": actor,
    }
