"""The normalised view's main keys of an event: the issue, project and sprint it names, and who acted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from descriptor._catalogue import Event, events, first_value, value_at
from descriptor._product_events import ProductEvent, product_events

__all__ = ["main_keys"]


@dataclass(frozen=True, slots=True)
class _Keys:
    """Where an event's main keys live, and the user objects that may name its actor."""

    issue_key: tuple[str, ...] = ()
    project_key: tuple[str, ...] = ()
    sprint_id: tuple[str, ...] = ()
    actors: tuple[str, ...] = ("user",)
    actor_ids: tuple[str, ...] = ()
    """Paths of a bare accountId naming the actor (Forge's `atlassianId`), tried first."""


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


def _forge_keys_for(event: ProductEvent) -> _Keys:
    """Forge payloads name the actor in `atlassianId`; the issue and its project as Connect does."""
    issue_key = ("issue.key",)
    issue_project_key = ("issue.fields.project.key",)
    actor = ("atlassianId",)
    match event.resource:
        case "issue" | "comment":
            return _Keys(issue_key, issue_project_key, actors=(), actor_ids=actor)
        case "worklog" | "attachment":
            entity = event.resource
            return _Keys(actors=_authored(entity, event.action)[1:], actor_ids=actor)
        case "project":
            return _Keys(project_key=("project.key",), actors=(), actor_ids=actor)
        case "sprint":
            return _Keys(sprint_id=("sprint.id",), actors=(), actor_ids=actor)
        case "user":
            return _Keys(actors=())
        case _:
            return _Keys(actors=(), actor_ids=actor)


_KEYS: Mapping[str, _Keys] = MappingProxyType(
    {
        **{event.name: _keys_for(event) for event in events()},
        **{event.name: _forge_keys_for(event) for event in product_events()},
    }
)


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
    account_id = first_value(payload, keys.actor_ids)
    actor = account_id
    for path in () if actor is not None else keys.actors:
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
