"""The fake Jira's issue fields for the sync: what `POST /issue` and `PUT /issue/{id}` refuse (in
Jira's words, per field), a new issue as Jira stores it, and an edit with its changelog items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addon.simulator._atlassian import jira_time
from addon.simulator._jira_site import WorkSite, as_text, changelog_item, plain_text

__all__ = ["apply_edit", "create_errors", "field_errors", "new_issue"]


def create_errors(site: WorkSite, fields: Mapping[str, Any]) -> dict[str, str]:
    """What `POST /issue` refuses in `fields`; empty if it creates the issue."""
    errors: dict[str, str] = {}
    project = site.projects.get(str((fields.get("project") or {}).get("key")))
    if project is None:
        errors["project"] = "valid project is required"
    elif (fields.get("issuetype") or {}).get("name") not in project["types"]:
        errors["issuetype"] = "valid issue type is required"
    if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
        errors["summary"] = "You must specify a summary of the issue."
    errors.update(field_errors(site, fields))
    return errors


def field_errors(site: WorkSite, fields: Mapping[str, Any]) -> dict[str, str]:
    """What Jira refuses in the editable fields of `fields`."""
    errors: dict[str, str] = {}
    priority = fields.get("priority")
    if "priority" in fields and site.priority(str((priority or {}).get("id"))) is None:
        errors["priority"] = "Specify a valid 'id' or 'name' for Priority"
    description = fields.get("description")
    if description is not None and not (
        isinstance(description, dict) and description.get("type") == "doc"
    ):
        errors["description"] = "Operation value must be an Atlassian Document."
    labels = fields.get("labels")
    if labels is not None and any(" " in str(label) for label in labels):
        errors["labels"] = "The label cannot contain spaces."
    return errors


def new_issue(
    site: WorkSite, fields: Mapping[str, Any], issue_id: str, *, now: float
) -> dict[str, Any]:
    """The issue `fields` create (checked by `create_errors`), with the project's next key."""
    project = site.projects[str(fields["project"]["key"])]
    key = f"{fields['project']['key']}-{project['next']}"
    project["next"] += 1
    return {
        "id": issue_id,
        "key": key,
        "self": f"{site.url}/rest/api/3/issue/{issue_id}",
        "fields": {
            "summary": fields["summary"],
            "description": fields.get("description"),
            "labels": list(fields.get("labels") or ()),
            "priority": site.priority(str((fields.get("priority") or {}).get("id")))
            or site.priority(site.priorities[len(site.priorities) // 2][0]),
            "status": site.status(site.workflow.initial),
            "issuetype": {"name": fields["issuetype"]["name"]},
            "project": {"id": project["id"], "key": fields["project"]["key"]},
            "created": jira_time(now),
            "updated": jira_time(now),
        },
    }


def apply_edit(
    site: WorkSite, issue: dict[str, Any], fields: Mapping[str, Any], *, now: float
) -> list[dict[str, Any]]:
    """Sets `fields` on `issue`; the changelog items of the change."""
    items = []
    for name, value in fields.items():
        before = issue["fields"].get(name)
        if name == "priority":
            value = site.priority(str(value["id"]))
            old, new = before or {}, value or {}
            items.append(
                changelog_item(name, old.get("id"), old.get("name"), new["id"], new["name"])
            )
        elif name == "description":
            items.append(changelog_item(name, None, plain_text(before), None, plain_text(value)))
        else:
            items.append(changelog_item(name, None, as_text(before), None, as_text(value)))
        issue["fields"][name] = value
    issue["fields"]["updated"] = jira_time(now)
    return items
