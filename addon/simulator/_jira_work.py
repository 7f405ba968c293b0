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

Its parts: the sites' model in `_jira_site`, the fields in `_jira_fields`, the search in
`_jira_search`, the failures a test asks for in `_jira_faults`.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from addon.simulator._atlassian import jira_time
from addon.simulator._jira_faults import Faults
from addon.simulator._jira_fields import apply_edit, create_errors, field_errors, new_issue
from addon.simulator._jira_search import search_issues
from addon.simulator._jira_site import (
    APP_ACCOUNT,
    DEFAULT_PRIORITIES,
    Workflow,
    WorkSite,
    changelog_item,
    webhook_body,
)

__all__ = ["FakeJiraWork"]


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
        self._faults = Faults(self._lock)
        self._issue_ids = itertools.count(20001)
        self._changelog_ids = itertools.count(30001)
        self.app = self._faults.wrap(Starlette(routes=self._route_table()))
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
        self._faults.add(method, path, kind, retry_after)

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
            errors = create_errors(site, fields)
            if errors:
                return JSONResponse({"errorMessages": [], "errors": errors}, status_code=400)
            now = self.now()
            issue = new_issue(site, fields, str(next(self._issue_ids)), now=now)
            site.issues[issue["id"]] = issue
            site.visible_at[issue["id"]] = now + site.search_lag
            self._emit(site, "jira:issue_created", issue, self._account(request), None)
        answer = {"id": issue["id"], "key": issue["key"], "self": issue["self"]}
        return JSONResponse(answer, status_code=201)

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
            errors = field_errors(site, fields)
            if errors:
                return JSONResponse({"errorMessages": [], "errors": errors}, status_code=400)
            self._edit(site, issue, fields, self._account(request))
        return Response(status_code=204)

    def _edit(
        self, site: WorkSite, issue: dict[str, Any], fields: Mapping[str, Any], account: str
    ) -> None:
        items = apply_edit(site, issue, fields, now=self.now())
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
        fields = params.get("fields") or []
        if isinstance(fields, str):
            fields = fields.split(",")
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            found = search_issues(site, str(params.get("jql") or ""), fields, now=self.now())
        if found is None:
            return _error(400, "This fake searches only by labels = X or project IN (...)")
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


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return {}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errorMessages": [message], "errors": {}}, status_code=status)
