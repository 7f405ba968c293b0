"""The Forge product events ("Atlassian app events") of Jira that have a Connect webhook counterpart:
their names, the scopes a trigger on them needs, and which Connect event each one is exactly.

Sources: Atlassian's "Jira events" and "Jira Software events" pages
(https://developer.atlassian.com/platform/forge/events-reference/jira/ and .../jira-software/, read
through the mirror GitHub `minhhai2209/forge-docs-snapshot`, `mirror/events-reference/jira/index.md`)
for the names and payloads, and @forge/manifest 13.7.0
(`out/mapping/product-event-to-scope-mapping.json`, its "current" scopes) for the scopes the
validator requires; the two agree on every event here.

An event is the *exact* equivalent of a Connect event when Jira sends one exactly when it sends the
other: then a handler of the Connect event receives it too. `avi:jira:commented:issue` is sent
"each time a comment is created or edited", so it covers `comment_created` and `comment_updated`
and is the exact equivalent of neither; `avi:jira:changed:configuration` covers five `option_*`
events at once. Forge-only events (issue viewed, assigned, mentioned; version archived; fields,
components) have no Connect counterpart and are not listed.

In Forge payloads the actor is `atlassianId` (an accountId string), the issue is REST-shaped
(`issue.key`, `issue.fields.project.key`), and a comment is `comment` (`comment.id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "LIFECYCLE_EVENTS",
    "ProductEvent",
    "product_event",
    "product_event_for",
    "product_events",
]

LIFECYCLE_EVENTS = ("avi:forge:installed:app", "avi:forge:upgraded:app")
"""The app's own lifecycle events ("Life cycle events"); they need no scope."""

_ISSUE = {
    "issue.key": ("issue.key",),
    "issue.id": ("issue.id",),
    "project.key": ("issue.fields.project.key",),
    "project.id": ("issue.fields.project.id",),
}
_NONE: Mapping[str, tuple[str, ...]] = MappingProxyType({})
_SOURCES: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "issue": MappingProxyType(_ISSUE),
        "comment": MappingProxyType({**_ISSUE, "comment.id": ("comment.id",)}),
        "worklog": MappingProxyType(
            {"issue.id": ("worklog.issueId",), "worklog.id": ("worklog.id",)}
        ),
        "attachment": MappingProxyType({"attachment.id": ("attachment.id",)}),
        "issuelink": MappingProxyType({"issuelink.id": ("id",)}),
        "version": MappingProxyType(
            {"version.id": ("version.id",), "project.id": ("version.projectId",)}
        ),
        "project": MappingProxyType(
            {"project.key": ("project.key",), "project.id": ("project.id",)}
        ),
        "user": MappingProxyType({"modifiedUser.accountId": ("user.accountId",)}),
        "filter": MappingProxyType({"filter.id": ("filter.id",)}),
        "sprint": MappingProxyType(
            {"sprint.id": ("sprint.id",), "board.id": ("sprint.originBoardId",)}
        ),
        "board": MappingProxyType({"board.id": ("board.id",)}),
    }
)

_WORK = ("read:jira-work",)
_CONFIGURATION = ("manage:jira-configuration",)
_USERS = ("read:jira-user",)
_BOARDS = ("read:jira-work", "read:jira-user")


@dataclass(frozen=True, slots=True)
class ProductEvent:
    """A Forge product event, the Connect events whose changes it brings, and its scopes.

    `equivalent` is the Connect event it is exactly (None when it covers several, or differs).
    """

    name: str
    resource: str
    action: str
    covers: tuple[str, ...]
    equivalent: str | None
    scopes: tuple[str, ...]
    description: str

    @property
    def sources(self) -> Mapping[str, tuple[str, ...]]:
        """Each context value the payload carries and the dotted paths holding it, in order."""
        return _SOURCES.get(self.resource, _NONE)


def _exact(
    name: str, connect: str, resource: str, action: str, scopes: tuple[str, ...], text: str
) -> ProductEvent:
    return ProductEvent(name, resource, action, (connect,), connect, scopes, text)


def _covering(
    name: str,
    connect: tuple[str, ...],
    resource: str,
    action: str,
    scopes: tuple[str, ...],
    text: str,
) -> ProductEvent:
    return ProductEvent(name, resource, action, connect, None, scopes, text)


_EVENTS: tuple[ProductEvent, ...] = (
    _exact("avi:jira:created:issue", "jira:issue_created", "issue", "created", _WORK,
           "An issue was created."),
    _exact("avi:jira:updated:issue", "jira:issue_updated", "issue", "updated", _WORK,
           "A field of an issue was changed."),
    _exact("avi:jira:deleted:issue", "jira:issue_deleted", "issue", "deleted", _WORK,
           "An issue was deleted."),
    _covering("avi:jira:commented:issue", ("comment_created", "comment_updated"), "comment",
              "commented", _WORK, "A comment was added or edited."),
    _exact("avi:jira:deleted:comment", "comment_deleted", "comment", "deleted", _WORK,
           "A comment was deleted."),
    _exact("avi:jira:created:worklog", "worklog_created", "worklog", "created", _WORK,
           "Work was logged on an issue."),
    _exact("avi:jira:updated:worklog", "worklog_updated", "worklog", "updated", _WORK,
           "A worklog was edited."),
    _exact("avi:jira:deleted:worklog", "worklog_deleted", "worklog", "deleted", _WORK,
           "A worklog was deleted."),
    _exact("avi:jira:created:attachment", "attachment_created", "attachment", "created", _WORK,
           "A file was attached to an issue."),
    _exact("avi:jira:deleted:attachment", "attachment_deleted", "attachment", "deleted", _WORK,
           "An attachment was deleted."),
    _exact("avi:jira:created:issuelink", "issuelink_created", "issuelink", "created", _WORK,
           "Two issues were linked."),
    _exact("avi:jira:deleted:issuelink", "issuelink_deleted", "issuelink", "deleted", _WORK,
           "A link between two issues was removed."),
    _exact("avi:jira:set:issue-property", "issue_property_set", "property", "set", _WORK,
           "An entity property was set on an issue."),
    _exact("avi:jira:deleted:issue-property", "issue_property_deleted", "property", "deleted",
           _WORK, "An entity property was removed from an issue."),
    _exact("avi:jira:created:issuetype", "issuetype_created", "issuetype", "created",
           _CONFIGURATION, "An issue type was created."),
    _exact("avi:jira:updated:issuetype", "issuetype_updated", "issuetype", "updated",
           _CONFIGURATION, "An issue type was edited."),
    _exact("avi:jira:deleted:issuetype", "issuetype_deleted", "issuetype", "deleted",
           _CONFIGURATION, "An issue type was deleted."),
    _exact("avi:jira:created:version", "jira:version_created", "version", "created", _WORK,
           "A project version was created."),
    _exact("avi:jira:updated:version", "jira:version_updated", "version", "updated", _WORK,
           "A project version was edited."),
    _exact("avi:jira:deleted:version", "jira:version_deleted", "version", "deleted", _WORK,
           "A project version was deleted."),
    _exact("avi:jira:released:version", "jira:version_released", "version", "released", _WORK,
           "A project version was released."),
    _exact("avi:jira:unreleased:version", "jira:version_unreleased", "version", "unreleased",
           _WORK, "A released version was unreleased."),
    _exact("avi:jira:moved:version", "jira:version_moved", "version", "moved", _WORK,
           "A project version was reordered."),
    _exact("avi:jira:merged:version", "jira:version_merged", "version", "merged", _WORK,
           "A project version was merged into another."),
    _exact("avi:jira:created:project", "project_created", "project", "created", _WORK,
           "A project was created."),
    _exact("avi:jira:updated:project", "project_updated", "project", "updated", _WORK,
           "A project was edited."),
    _exact("avi:jira:deleted:project", "project_deleted", "project", "deleted", _WORK,
           "A project was deleted for good."),
    _exact("avi:jira:softdeleted:project", "project_soft_deleted", "project", "trashed", _WORK,
           "A project was moved to the trash."),
    _exact("avi:jira:restored:project", "project_restored_deleted", "project", "restored",
           _WORK, "A project was restored from the trash."),
    _exact("avi:jira:archived:project", "project_archived", "project", "archived", _WORK,
           "A project was archived."),
    _exact("avi:jira:unarchived:project", "project_restored_archived", "project", "restored",
           _WORK, "An archived project was restored."),
    _exact("avi:jira:created:user", "user_created", "user", "created", _USERS,
           "A user was created."),
    _exact("avi:jira:updated:user", "user_updated", "user", "updated", _USERS,
           "A user was edited."),
    _exact("avi:jira:deleted:user", "user_deleted", "user", "deleted", _USERS,
           "A user was deleted."),
    _exact("avi:jira:created:filter", "filter_created", "filter", "created", _CONFIGURATION,
           "A saved filter was created."),
    _exact("avi:jira:updated:filter", "filter_updated", "filter", "updated", _CONFIGURATION,
           "A saved filter was edited."),
    _exact("avi:jira:deleted:filter", "filter_deleted", "filter", "deleted", _CONFIGURATION,
           "A saved filter was deleted."),
    _exact("avi:jira:timetracking:provider:changed", "option_timetracking_provider_changed",
           "option", "changed", _CONFIGURATION, "The time tracker was changed."),
    _covering(
        "avi:jira:changed:configuration",
        (
            "option_subtasks_changed",
            "option_unassigned_issues_changed",
            "option_voting_changed",
            "option_watching_changed",
            "option_issuelinks_changed",
        ),
        "option",
        "changed",
        _CONFIGURATION,
        "A global setting (sub-tasks, unassigned issues, voting, watching, linking) changed.",
    ),
    _covering("avi:jira:failed:expression", ("jira_expression_evaluation_failed",),
              "expression", "failed", _CONFIGURATION,
              "A Jira expression of one of this app's Forge workflow rules failed."),
    _exact("avi:jira-software:created:sprint", "sprint_created", "sprint", "created", _WORK,
           "A sprint was created."),
    _exact("avi:jira-software:updated:sprint", "sprint_updated", "sprint", "updated", _WORK,
           "A sprint was edited."),
    _exact("avi:jira-software:deleted:sprint", "sprint_deleted", "sprint", "deleted", _WORK,
           "A sprint was deleted."),
    _exact("avi:jira-software:started:sprint", "sprint_started", "sprint", "started", _WORK,
           "A sprint was started."),
    _exact("avi:jira-software:closed:sprint", "sprint_closed", "sprint", "closed", _WORK,
           "A sprint was completed."),
    _exact("avi:jira-software:created:board", "board_created", "board", "created", _BOARDS,
           "A board was created."),
    _exact("avi:jira-software:updated:board", "board_updated", "board", "updated", _BOARDS,
           "A board was edited."),
    _exact("avi:jira-software:deleted:board", "board_deleted", "board", "deleted", _BOARDS,
           "A board was deleted."),
    _exact("avi:jira-software:configuration-changed:board", "board_configuration_changed",
           "board", "changed", _BOARDS, "A board's columns, filter or ranking changed."),
)  # fmt: skip

_BY_NAME: Mapping[str, ProductEvent] = MappingProxyType({event.name: event for event in _EVENTS})
_BY_CONNECT: Mapping[str, ProductEvent] = MappingProxyType(
    {connect: event for event in _EVENTS for connect in event.covers}
)


def product_events() -> tuple[ProductEvent, ...]:
    """Every Forge product event with a Connect counterpart, grouped by resource."""
    return _EVENTS


def product_event(name: str) -> ProductEvent | None:
    return _BY_NAME.get(name)


def product_event_for(connect_event: str) -> ProductEvent | None:
    """The Forge event that brings a Connect event's changes (exactly or among others), if any."""
    return _BY_CONNECT.get(connect_event)
