"""The Jira webhook events: what each one concerns, which `${...}` context parameters Jira
substitutes into a webhook URL for it, and where those values (and the few keys the normalised view
needs) live in its body.

What is documented and what is inferred:

* Context parameters are documented (Connect descriptor schema, webhook module) for issue events
  (`issue.id`, `issue.key`, `project.id`, `project.key`), version events (`project.id`,
  `project.key`, `version.id`, and `mergedVersion.id` for `jira:version_merged`), project events
  (`project.id`, `project.key`) and user events (`modifiedUser.accountId`; `modifiedUser.name` and
  `modifiedUser.key` deprecated).
* Inferred, unconfirmed: comment events get the issue and project parameters (their Cloud body
  carries the issue, project included; Server bodies carry no issue at all); worklog events get
  `issue.id` (from `worklog.issueId`); attachment events get `issue.id` and `issue.key` (the body
  carries an issue stub without its project); the legacy `jira:worklog_updated` gets the issue
  parameters (its body is issue-shaped); sprint events get `sprint.id` and `board.id` (from
  `sprint.originBoardId`); board events get `board.id`. `comment.id` appears in only some copies of
  Jira Server's variable list and never for Connect, so it is not offered. Unlisted families (issue
  links, options, properties, issue types, filters, app events) get none.
* Jira substitutes `project.key` for version events, but the body carries only `version.projectId`,
  so that parameter has no source. Where `mergedVersion.id` lives in a `jira:version_merged` body is
  unknown; the source is a guess named after the parameter.
* Body field names other than issue events' are Jira's undocumented practice, as seen in real
  captures.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from descriptor._product_events import product_event

__all__ = [
    "Event",
    "closest",
    "context_values",
    "events",
    "lookup",
    "value_at",
]


@dataclass(frozen=True, slots=True)
class Event:
    """A webhook event name and what Jira sends with it.

    `sources` maps each context parameter to the dotted body paths that hold its value, tried in
    order; an empty tuple means Jira substitutes the parameter but the body does not carry it.
    """

    name: str
    resource: str
    action: str
    parameters: tuple[str, ...]
    sources: Mapping[str, tuple[str, ...]] = field(hash=False)
    supports_filter: bool
    description: str

    def __post_init__(self) -> None:
        unknown = set(self.sources) - set(self.parameters)
        if unknown:
            raise ValueError(f"{self.name}: sources for undeclared parameters {sorted(unknown)}")
        frozen = {name: tuple(self.sources.get(name, ())) for name in self.parameters}
        object.__setattr__(self, "sources", MappingProxyType(frozen))


_ISSUE = {
    "issue.key": ("issue.key",),
    "issue.id": ("issue.id",),
    "project.key": ("issue.fields.project.key",),
    "project.id": ("issue.fields.project.id",),
}
_WORKLOG = {"issue.id": ("worklog.issueId",)}
_ATTACHMENT = {"issue.key": ("issue.key",), "issue.id": ("issue.id",)}
_VERSION = {"project.key": (), "project.id": ("version.projectId",), "version.id": ("version.id",)}
_VERSION_MERGED = {**_VERSION, "mergedVersion.id": ("mergedVersion.id",)}
_PROJECT = {"project.key": ("project.key",), "project.id": ("project.id",)}
_USER = {
    "modifiedUser.accountId": ("user.accountId",),
    "modifiedUser.name": ("user.name",),
    "modifiedUser.key": ("user.key",),
}
_SPRINT = {"sprint.id": ("sprint.id",), "board.id": ("sprint.originBoardId",)}
_BOARD = {"board.id": ("board.id",)}
_BOARD_CONFIGURATION = {"board.id": ("configuration.id", "board.id")}

DEPRECATED_EVENTS = frozenset({"jira:worklog_updated"})
DEPRECATED_PARAMETERS = frozenset({"modifiedUser.name", "modifiedUser.key"})


def _family(
    resource: str,
    sources: Mapping[str, tuple[str, ...]],
    actions: Mapping[str, tuple[str, str]],
    *,
    supports_filter: bool = False,
) -> tuple[Event, ...]:
    """Events of one resource sharing their context parameters: name -> (action, description)."""
    return tuple(
        Event(name, resource, action, tuple(sources), sources, supports_filter, description)
        for name, (action, description) in actions.items()
    )


_NONE: Mapping[str, tuple[str, ...]] = {}

_EVENTS: tuple[Event, ...] = (
    *_family(
        "issue",
        _ISSUE,
        {
            "jira:issue_created": ("created", "An issue was created."),
            "jira:issue_updated": ("updated", "An issue was edited, moved, assigned or commented."),
            "jira:issue_deleted": ("deleted", "An issue was deleted."),
        },
        supports_filter=True,
    ),
    *_family(
        "comment",
        _ISSUE,
        {
            "comment_created": ("created", "A comment was added to an issue."),
            "comment_updated": ("updated", "A comment was edited."),
            "comment_deleted": ("deleted", "A comment was deleted."),
        },
        supports_filter=True,
    ),
    *_family(
        "worklog",
        _WORKLOG,
        {
            "worklog_created": ("created", "Work was logged on an issue."),
            "worklog_updated": ("updated", "A worklog was edited."),
            "worklog_deleted": ("deleted", "A worklog was deleted."),
        },
    ),
    *_family(
        "worklog",
        _ISSUE,
        {"jira:worklog_updated": ("updated", "Legacy: a worklog changed, sent as an issue event.")},
    ),
    *_family(
        "attachment",
        _ATTACHMENT,
        {
            "attachment_created": ("created", "A file was attached to an issue."),
            "attachment_deleted": ("deleted", "An attachment was deleted."),
        },
    ),
    *_family(
        "issuelink",
        _NONE,
        {
            "issuelink_created": ("created", "Two issues were linked."),
            "issuelink_deleted": ("deleted", "A link between two issues was removed."),
        },
    ),
    *_family(
        "property",
        _NONE,
        {
            "issue_property_set": ("set", "An entity property was set on an issue."),
            "issue_property_deleted": ("deleted", "An entity property was removed from an issue."),
        },
    ),
    *_family(
        "issuetype",
        _NONE,
        {
            "issuetype_created": ("created", "An issue type was created."),
            "issuetype_updated": ("updated", "An issue type was edited."),
            "issuetype_deleted": ("deleted", "An issue type was deleted."),
        },
    ),
    *_family(
        "version",
        _VERSION,
        {
            "jira:version_created": ("created", "A project version was created."),
            "jira:version_updated": ("updated", "A project version was edited."),
            "jira:version_deleted": ("deleted", "A project version was deleted."),
            "jira:version_released": ("released", "A project version was released."),
            "jira:version_unreleased": ("unreleased", "A released version was unreleased."),
            "jira:version_moved": ("moved", "A project version was reordered."),
        },
    ),
    *_family(
        "version",
        _VERSION_MERGED,
        {"jira:version_merged": ("merged", "A project version was merged into another.")},
    ),
    *_family(
        "project",
        _PROJECT,
        {
            "project_created": ("created", "A project was created."),
            "project_updated": ("updated", "A project was edited."),
            "project_deleted": ("deleted", "A project was deleted for good."),
            "project_soft_deleted": ("trashed", "A project was moved to the trash."),
            "project_restored_deleted": ("restored", "A project was restored from the trash."),
            "project_archived": ("archived", "A project was archived."),
            "project_restored_archived": ("restored", "An archived project was restored."),
        },
    ),
    *_family(
        "user",
        _USER,
        {
            "user_created": ("created", "A user was created."),
            "user_updated": ("updated", "A user was edited."),
            "user_deleted": ("deleted", "A user was deleted."),
        },
    ),
    *_family(
        "option",
        _NONE,
        {
            "option_voting_changed": ("changed", "Voting was turned on or off."),
            "option_watching_changed": ("changed", "Watching was turned on or off."),
            "option_unassigned_issues_changed": ("changed", "Unassigned issues were (dis)allowed."),
            "option_subtasks_changed": ("changed", "Sub-tasks were turned on or off."),
            "option_attachments_changed": ("changed", "Attachments were turned on or off."),
            "option_issuelinks_changed": ("changed", "Issue linking was turned on or off."),
            "option_timetracking_changed": ("changed", "Time tracking was turned on or off."),
            "option_timetracking_provider_changed": ("changed", "The time tracker was changed."),
        },
    ),
    *_family(
        "filter",
        _NONE,
        {
            "filter_created": ("created", "A saved filter was created."),
            "filter_updated": ("updated", "A saved filter was edited."),
            "filter_deleted": ("deleted", "A saved filter was deleted."),
        },
    ),
    *_family(
        "sprint",
        _SPRINT,
        {
            "sprint_created": ("created", "A sprint was created."),
            "sprint_updated": ("updated", "A sprint was edited."),
            "sprint_deleted": ("deleted", "A sprint was deleted."),
            "sprint_started": ("started", "A sprint was started."),
            "sprint_closed": ("closed", "A sprint was completed."),
        },
    ),
    *_family(
        "board",
        _BOARD,
        {
            "board_created": ("created", "A board was created."),
            "board_updated": ("updated", "A board was edited."),
            "board_deleted": ("deleted", "A board was deleted."),
        },
    ),
    *_family(
        "board",
        _BOARD_CONFIGURATION,
        {
            "board_configuration_changed": (
                "changed",
                "A board's columns, filter or ranking changed.",
            )
        },
    ),
    *_family(
        "addon",
        _NONE,
        {
            "connect_addon_enabled": ("enabled", "This app was enabled."),
            "connect_addon_disabled": ("disabled", "This app was disabled."),
            "app_access_to_objects_blocked": ("blocked", "This app was refused access to objects."),
            "app_access_to_objects_in_container_blocked": (
                "blocked",
                "This app was refused access to objects in a container.",
            ),
        },
    ),
    *_family(
        "expression",
        _NONE,
        {
            "jira_expression_evaluation_failed": (
                "failed",
                "A Jira expression this app registered could not be evaluated.",
            ),
        },
    ),
)


_BY_NAME: Mapping[str, Event] = MappingProxyType({event.name: event for event in _EVENTS})


def events() -> tuple[Event, ...]:
    """Every event the catalogue knows, grouped by resource."""
    return _EVENTS


def lookup(name: str) -> Event | None:
    return _BY_NAME.get(name)


def closest(name: str, n: int = 3) -> list[str]:
    """The known event names most like `name`, best first (for "did you mean" messages)."""
    if n <= 0 or not isinstance(name, str):
        return []
    wanted = name.strip().lower()
    names = difflib.get_close_matches(wanted, list(_BY_NAME), n=n, cutoff=0.6)
    prefixed = f"jira:{wanted}"
    if prefixed in _BY_NAME:
        names = [prefixed, *(found for found in names if found != prefixed)][:n]
    return names


def value_at(payload: object, path: str) -> str | None:
    """The string or integer at a dotted path (`issue.fields.project.key`), as text.

    None when any step is missing, the value is empty, or it is not a string or an integer. List
    items are addressed by index (`items.0.field`). Never raises.
    """
    current = payload
    for step in path.split("."):
        if isinstance(current, dict | Mapping):  # dict first: the ABC check is slow
            current = current.get(step)
        elif (
            isinstance(current, list | Sequence)
            and not isinstance(current, str | bytes)
            and step.isascii()
            and step.isdigit()
        ):
            index = int(step)
            current = current[index] if index < len(current) else None
        else:
            return None
    if isinstance(current, str):
        return current or None
    if isinstance(current, int) and not isinstance(current, bool):
        try:
            return str(current)
        except ValueError:
            return None
    return None


def first_value(payload: object, paths: Iterable[str]) -> str | None:
    for path in paths:
        value = value_at(payload, path)
        if value is not None:
            return value
    return None


def context_values(event_name: str, payload: object) -> dict[str, str]:
    """The event's context parameters that the body carries, each from its first source present
    (for a Forge product event, the values its payload carries)."""
    event = lookup(event_name)
    sources = event.sources if event is not None else _product_sources(event_name)
    values: dict[str, str] = {}
    for parameter, paths in sources.items():
        value = first_value(payload, paths)
        if value is not None:
            values[parameter] = value
    return values


def _product_sources(event_name: str) -> Mapping[str, tuple[str, ...]]:
    """A Forge product event's context values (its keys live in Forge's payload shapes)."""
    event = product_event(event_name)
    return event.sources if event is not None else {}
