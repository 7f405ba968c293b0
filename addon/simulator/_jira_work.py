"""A fake Jira for the two-way sync: projects, workflows, priorities, issues, labels, search, and
the webhook bodies Jira would send for each change, served as Jira sites under
`/ex/jira/{cloudId}/rest/api/3/...` (the API gateway's shape; a test's client factory points its
base URL at a site's root).

What it copies from Jira Cloud (REST API v3; notes B5):
- Status categories by id and key: 1 `undefined`, 2 `new`, 3 `done`, 4 `indeterminate`; a
  site's status and category names may be localised, the keys never are.
- Priorities per site, by id; a site may have renamed them (Blocker/Critical/Major/Minor).
- `POST /issue` answers 201 `{id, key, self}`; `PUT /issue/{id}` and `POST .../transitions`
  answer 204; a transition not available from the current status is a 400.
- `jira:issue_updated` bodies carry `user` (the acting account), the REST issue (status with its
  `statusCategory`) and `changelog {id, items[{field, fieldtype, fieldId, from, fromString, to,
  toString}]}` (ids in from/to, names in the strings), as in the real bodies in tests/data/jira.
- JQL search by `labels = X`, or the catch-up's `project IN (...) AND updated >= ...`, sees a new issue only after the index lag (`search_lag`).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from addon.simulator._atlassian import jira_time
from addon.simulator._jira_site import (
    APP_ACCOUNT,
    DEFAULT_PRIORITIES,
    Workflow,
    WorkSite,
    as_text,
    changelog_item,
    plain_text,
    webhook_body,
)
from addon.simulator._jql import matches_search, project_keys_of

__all__ = ["FakeJiraWork"]


@dataclass(slots=True)
class _Fault:
    method: str
    path: re.Pattern[str]
    kind: str
    retry_after: str | None


class FakeJiraWork:
    """The fake's state, its ASGI app (`app`), and methods to act as Jira's users."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.now = clock
        self.sites: dict[str, WorkSite] = {}
        self.webhooks: list[dict[str, Any]] = []
        """Every webhook body Jira would have sent, in order."""
        self.tokens: dict[str, str] = {}
        """Bearer token to the account acting with it; unknown tokens act as APP_ACCOUNT."""
        self.on_webhook: Callable[[str, dict[str, Any]], None] | None = None
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._issue_ids = itertools.count(20001)
        self._changelog_ids = itertools.count(30001)
        self._routes = Starlette(routes=self._route_table())

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._serve(scope, receive, send)

        self.app = app
        """The ASGI app: the sites, with the failures `fail_next` asked for."""

    def add_site(
        self,
        name: str,
        *,
        projects: Mapping[str, tuple[str, ...]] | None = None,
        language: str = "en",
        workflow: Workflow | None = None,
        priorities: tuple[tuple[str, str], ...] = DEFAULT_PRIORITIES,
        search_lag: float = 0.0,
    ) -> WorkSite:
        with self._lock:
            site = WorkSite(
                cloud_id=str(uuid.uuid4()),
                url=f"https://{name}.atlassian.net",
                language=language,
                workflow=workflow or Workflow.default(language),
                priorities=list(priorities),
                search_lag=search_lag,
            )
            for index, (key, types) in enumerate((projects or {"DEV": ("Task", "Bug")}).items()):
                site.projects[key] = {"id": str(10000 + index), "types": types, "next": 1}
            self.sites[site.cloud_id] = site
            return site

    def fail_next(
        self, method: str, path: str, kind: str, *, retry_after: str | None = None
    ) -> None:
        """The next `method` request whose path (after the site's REST root) matches the regex
        `path` fails: `kill-after` does the work then breaks the answer off; `429`/`503` refuse."""
        with self._lock:
            self._faults.append(_Fault(method, re.compile(path), kind, retry_after))

    def issues_labelled(self, cloud_id: str, label: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                i for i in self.sites[cloud_id].issues.values() if label in i["fields"]["labels"]
            ]

    def transition(self, cloud_id: str, issue_id: str, to_status: str, *, account: str) -> None:
        """A person in Jira moves the issue (through any transition to `to_status`)."""
        with self._lock:
            site = self.sites[cloud_id]
            issue = site.issues[issue_id]
            if site.transition_to(issue, to_status) is None:
                raise ValueError(f"no transition to {to_status} from here")
            self._move(site, issue, to_status, account)

    def edit(self, cloud_id: str, issue_id: str, *, account: str, **fields: Any) -> None:
        with self._lock:
            site = self.sites[cloud_id]
            self._edit(site, site.issues[issue_id], fields, account)

    # The HTTP side

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self._fault_for(scope) if scope["type"] == "http" else None
        if fault is None:
            await self._routes(scope, receive, send)
            return
        if fault.kind != "kill-after":
            headers = [(b"content-type", b"application/json")]
            if fault.retry_after is not None:
                headers.append((b"retry-after", fault.retry_after.encode()))
            await send(
                {"type": "http.response.start", "status": int(fault.kind), "headers": headers}
            )
            await send({"type": "http.response.body", "body": b'{"errorMessages":["busy"]}'})
            return

        async def swallow(message: Message) -> None:
            return None

        await self._routes(scope, receive, swallow)
        # The work is done; the answer is broken off after its first bytes.
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id"', "more_body": False})

    def _fault_for(self, scope: Scope) -> _Fault | None:
        path = str(scope["path"])
        rest = path.split("/rest/api/3", 1)[-1]
        with self._lock:
            for fault in self._faults:
                if fault.method == scope["method"] and fault.path.fullmatch(rest):
                    self._faults.remove(fault)
                    return fault
        return None

    def _route_table(self) -> list[Route]:
        api = "/ex/jira/{cloud_id}/rest/api/3"
        return [
            Route(f"{api}/issue", self._create, methods=["POST"]),
            Route(f"{api}/issue/{{issue}}", self._issue, methods=["GET", "PUT"]),
            Route(f"{api}/issue/{{issue}}/transitions", self._transitions, methods=["GET", "POST"]),
            Route(
                f"{api}/issue/{{issue}}/properties/{{key}}",
                self._property,
                methods=["GET", "PUT", "DELETE"],
            ),
            Route(f"{api}/priority", self._priorities, methods=["GET"]),
            Route(f"{api}/status/{{status}}", self._status_route, methods=["GET"]),
            Route(f"{api}/search/jql", self._search, methods=["GET", "POST"]),
            Route(f"{api}/myself", self._myself, methods=["GET"]),
            Route(f"{api}/serverInfo", self._server_info, methods=["GET"]),
        ]

    def site_root(self, cloud_id: str) -> ASGIApp:
        """The ASGI app of one site served at its own root (`/rest/api/3/...`), as a Connect
        tenant's base URL serves it."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                path = f"/ex/jira/{cloud_id}{scope['path']}"
                scope = {**scope, "path": path, "raw_path": path.encode()}
            await self.app(scope, receive, send)

        return app

    async def _myself(self, request: Request) -> Response:
        """The acting account, as Jira answers `GET /myself` (Connect and Forge: the app's)."""
        site = self._site(request)
        if isinstance(site, Response):
            return site
        account = self._account(request)
        kind = "app" if account == APP_ACCOUNT else "atlassian"
        return JSONResponse({"accountId": account, "accountType": kind})

    async def _server_info(self, request: Request) -> Response:
        """`GET /serverInfo`: the site's own URL (`baseUrl`), as Jira Cloud answers it."""
        site = self._site(request)
        if isinstance(site, Response):
            return site
        return JSONResponse({"baseUrl": site.url, "deploymentType": "Cloud"})

    def _site(self, request: Request) -> WorkSite | Response:
        self.requests.append((request.method, request.url.path))
        if not request.headers.get("authorization"):
            return _error(401, "Unauthorized")
        site = self.sites.get(request.path_params["cloud_id"])
        if site is None:
            return _error(404, "No site with this cloudId")
        return site

    def _account(self, request: Request) -> str:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return self.tokens.get(token, APP_ACCOUNT)

    async def _create(self, request: Request) -> Response:
        body = await _json(request)
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            fields = body.get("fields") if isinstance(body, dict) else None
            if not isinstance(fields, dict):
                return _error(400, "fields are required")
            errors: dict[str, str] = {}
            project = site.projects.get(str((fields.get("project") or {}).get("key")))
            if project is None:
                errors["project"] = "valid project is required"
            elif (fields.get("issuetype") or {}).get("name") not in project["types"]:
                errors["issuetype"] = "valid issue type is required"
            if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
                errors["summary"] = "You must specify a summary of the issue."
            errors.update(self._field_errors(site, fields))
            if errors or project is None:
                return JSONResponse({"errorMessages": [], "errors": errors}, status_code=400)
            issue_id = str(next(self._issue_ids))
            key = f"{fields['project']['key']}-{project['next']}"
            project["next"] += 1
            now = self.now()
            issue = {
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
            site.issues[issue_id] = issue
            site.visible_at[issue_id] = now + site.search_lag
            self._emit(site, "jira:issue_created", issue, self._account(request), None)
        return JSONResponse({"id": issue_id, "key": key, "self": issue["self"]}, status_code=201)

    def _field_errors(self, site: WorkSite, fields: Mapping[str, Any]) -> dict[str, str]:
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

    async def _issue(self, request: Request) -> Response:
        body = await _json(request) if request.method == "PUT" else {}
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            issue = site.find(request.path_params["issue"])
            if issue is None:
                return _error(404, "Issue does not exist or you do not have permission to see it.")
            if request.method == "GET":
                wanted = request.query_params.get("fields")
                fields = issue["fields"]
                if wanted:
                    fields = {k: v for k, v in fields.items() if k in wanted.split(",")}
                return JSONResponse({**issue, "fields": fields})
            fields = body.get("fields") if isinstance(body, dict) else None
            if not isinstance(fields, dict):
                return _error(400, "fields are required")
            errors = self._field_errors(site, fields)
            if errors:
                return JSONResponse({"errorMessages": [], "errors": errors}, status_code=400)
            self._edit(site, issue, fields, self._account(request))
        return Response(status_code=204)

    def _edit(
        self, site: WorkSite, issue: dict[str, Any], fields: Mapping[str, Any], account: str
    ) -> None:
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
                items.append(
                    changelog_item(name, None, plain_text(before), None, plain_text(value))
                )
            else:
                items.append(changelog_item(name, None, as_text(before), None, as_text(value)))
            issue["fields"][name] = value
        issue["fields"]["updated"] = jira_time(self.now())
        self._emit(site, "jira:issue_updated", issue, account, items)

    async def _transitions(self, request: Request) -> Response:
        body = await _json(request) if request.method == "POST" else {}
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            issue = site.find(request.path_params["issue"])
            if issue is None:
                return _error(404, "Issue does not exist or you do not have permission to see it.")
            available = site.available(issue)
            if request.method == "GET":
                return JSONResponse(
                    {
                        "expand": "transitions",
                        "transitions": [
                            {"id": tid, "name": name, "to": site.status(to)}
                            for tid, name, to in available
                        ],
                    }
                )
            wanted = str(((body or {}).get("transition") or {}).get("id"))
            chosen = next((to for tid, _, to in available if tid == wanted), None)
            if chosen is None:
                return _error(400, f"Transition id '{wanted}' is not valid for this issue.")
            self._move(site, issue, chosen, self._account(request))
        return Response(status_code=204)

    def _move(self, site: WorkSite, issue: dict[str, Any], to: str, account: str) -> None:
        before = issue["fields"]["status"]
        after = site.status(to)
        issue["fields"]["status"] = after
        issue["fields"]["updated"] = jira_time(self.now())
        item = changelog_item("status", before["id"], before["name"], after["id"], after["name"])
        self._emit(site, "jira:issue_updated", issue, account, [item])

    async def _property(self, request: Request) -> Response:
        body = await _json(request) if request.method == "PUT" else None
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            issue = site.find(request.path_params["issue"])
            if issue is None:
                return _error(404, "Issue does not exist or you do not have permission to see it.")
            key = (issue["id"], request.path_params["key"])
            if request.method == "PUT":
                created = key not in site.properties
                site.properties[key] = body
                return Response(status_code=201 if created else 200)
            if request.method == "DELETE":
                site.properties.pop(key, None)
                return Response(status_code=204)
            if key not in site.properties:
                return _error(404, "The property was not found.")
            return JSONResponse({"key": key[1], "value": site.properties[key]})

    async def _priorities(self, request: Request) -> Response:
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            return JSONResponse([site.priority(pid) for pid, _ in site.priorities])

    async def _status_route(self, request: Request) -> Response:
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            try:
                return JSONResponse(site.status(request.path_params["status"]))
            except KeyError:
                return _error(404, "The status was not found.")

    async def _search(self, request: Request) -> Response:
        params: dict[str, Any] = (
            await _json(request) if request.method == "POST" else dict(request.query_params)
        )
        jql = str(params.get("jql") or "")
        label = re.search(r'labels\s*=\s*"?([\w.-]+)"?', jql)
        fields = params.get("fields") or []
        if isinstance(fields, str):
            fields = fields.split(",")
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            if label is None and not project_keys_of(jql):
                return _error(400, "This fake searches only by labels = X or project IN (...)")
            now = self.now()
            found = [
                {
                    "id": issue["id"],
                    "key": issue["key"],
                    "self": issue["self"],
                    "fields": {k: v for k, v in issue["fields"].items() if k in fields},
                }
                for issue_id, issue in sorted(
                    site.issues.items(), key=None if label else _by_updated
                )
                if site.visible_at[issue_id] <= now
                and (
                    label.group(1) in issue["fields"]["labels"]
                    if label is not None
                    else matches_search(jql, issue, updated_at=_updated_at(issue))
                )
            ]
        return JSONResponse({"issues": found, "isLast": True})

    def _emit(
        self,
        site: WorkSite,
        event: str,
        issue: dict[str, Any],
        account: str,
        items: list[dict[str, Any]] | None,
    ) -> None:
        changelog = None
        if items is not None:
            changelog = {"id": str(next(self._changelog_ids)), "items": items}
        body = webhook_body(site, event, issue, account, now=self.now(), changelog=changelog)
        self.webhooks.append(body)
        if self.on_webhook is not None:
            self.on_webhook(site.cloud_id, body)


def _updated_at(issue: Mapping[str, Any]) -> float:
    stamp = str(issue["fields"]["updated"]).replace("+0000", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def _by_updated(entry: tuple[str, dict[str, Any]]) -> tuple[float, str]:
    """The order of the catch-up's `ORDER BY updated ASC`."""
    return _updated_at(entry[1]), entry[0]


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return {}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errorMessages": [message], "errors": {}}, status_code=status)
