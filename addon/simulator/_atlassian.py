"""A fake Atlassian for the OAuth 2.0 door, offline: authorization server, API gateway, and the
Jira sites behind it, as one ASGI app (`addon simulate atlassian` serves it on 127.0.0.1:8767).

What it copies from Atlassian, with the sources (tokens: see `_atlassian_auth`):
- Dynamic webhooks (see `_atlassian_webhooks`): `GET`/`POST`/`DELETE /webhook` (the ids in the
  body), `PUT /webhook/refresh` answering `{"expirationDate": ISO}`.
- Issue search `/rest/api/3/search/jql` with `fields` and `nextPageToken` paging.
- Each site's users (`FakeSite.users`, see `_jira_users`): the user search, one user, the email API.
- The personal data reporting API, `POST /app/report-accounts/`, for any valid access token (an
  OAuth 2.0 app's, community.developer.atlassian.com/t/53720); its answers are `reporting`'s.

Its clock is the real one plus an offset that `advance` (or `POST /_fake/clock`) moves forward.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from addon.simulator._atlassian_auth import LEEWAY_SECONDS, FakeAuthorization
from addon.simulator._atlassian_auth import error as _error
from addon.simulator._atlassian_webhooks import (
    FakeWebhook,
    delete_webhooks,
    expire_webhooks,
    refresh_webhooks,
    register_webhooks,
    webhook_values,
)
from addon.simulator._jira_users import FakeJiraUsers
from addon.simulator._jql import matches_search

__all__ = ["DEFAULT_ATLASSIAN_ADDRESS", "FakeAtlassian", "FakeSite"]

DEFAULT_ATLASSIAN_ADDRESS = "127.0.0.1:8767"


def jira_time(when: float) -> str:
    """Jira's timestamp format: `2026-12-04T17:50:12.345+0000`."""
    moment = datetime.fromtimestamp(when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass(slots=True)
class FakeSite:
    cloud_id: str
    url: str
    name: str
    projects: dict[str, str] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)
    webhooks: dict[int, FakeWebhook] = field(default_factory=dict)
    users: FakeJiraUsers = field(default_factory=FakeJiraUsers)
    """Its users, served through the gateway (`/rest/api/3/users/search`, `/user`, ...)."""


class FakeAtlassian:
    """The fake's state and its HTTP app (`app`); the methods let a test act as Jira's users."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        leeway: float = LEEWAY_SECONDS,
        time_zone: str = "UTC",
    ) -> None:
        self.offset = 0.0
        self.time_zone = ZoneInfo(time_zone)
        """The consenting user's time zone: `/myself` names it, search reads `updated` in it."""
        self.sites: dict[str, FakeSite] = {}
        self._lock = threading.RLock()
        self.auth = FakeAuthorization(
            client_id=client_id,
            client_secret=client_secret,
            leeway=leeway,
            clock=self.now,
            lock=self._lock,
        )
        self.reporting = FakeJiraUsers()
        """The reporting API's state: `closed`, `updated`, `cycle_period`, and `reports` made."""
        self._ids = itertools.count(1)
        self._issue_ids = itertools.count(10001)
        self.app = Starlette(routes=self._routes())

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds

    def add_site(self, name: str, projects: Iterable[str] = ("DEV",)) -> FakeSite:
        with self._lock:
            site = FakeSite(str(uuid.uuid4()), f"https://{name}.atlassian.net", name)
            self.sites[site.cloud_id] = site
            for key in projects:
                self.add_project(site.cloud_id, key)
            return site

    def add_project(self, cloud_id: str, key: str) -> None:
        with self._lock:
            site = self.sites[cloud_id]
            site.projects[key] = str(10000 + len(site.projects))

    def touch_issue(self, cloud_id: str, key: str, summary: str = "changed") -> dict[str, Any]:
        """Create or change issue `key` now, as a user in Jira would."""
        with self._lock:
            site = self.sites[cloud_id]
            now = self.now()
            issue = next((i for i in site.issues.values() if i["key"] == key), None)
            if issue is None:
                project = key.rsplit("-", 1)[0]
                issue = {
                    "id": str(next(self._issue_ids)),
                    "key": key,
                    "fields": {
                        "summary": summary,
                        "created": jira_time(now),
                        "project": {"id": site.projects[project], "key": project},
                        "status": {"name": "To Do"},
                        "issuetype": {"name": "Task"},
                    },
                }
                site.issues[issue["id"]] = issue
            issue["fields"]["summary"] = summary
            issue["fields"]["updated"] = jira_time(now)
            site.updated[issue["id"]] = now
            return issue

    def forget_webhook(self, cloud_id: str, webhook_id: int) -> None:
        """Jira loses a registration (it expired, or an admin deleted it)."""
        with self._lock:
            self.sites[cloud_id].webhooks.pop(webhook_id, None)

    @property
    def refreshes(self) -> int:
        """Refresh tokens exchanged successfully."""
        return self.auth.refreshes

    @property
    def token_calls(self) -> int:
        """Calls of the token endpoint, whatever their outcome."""
        return self.auth.token_calls

    def revoke(self) -> None:
        """The user revokes the app's consent: every refresh token is refused from now on."""
        self.auth.revoke()

    def revoke_access_token(self, token: str) -> None:
        """Atlassian stops honouring this access token before it expires (the API answers 401)."""
        self.auth.revoke_access_token(token)

    def live_refresh_tokens(self) -> list[str]:
        return self.auth.live_refresh_tokens()

    def webhooks(self, cloud_id: str) -> list[FakeWebhook]:
        with self._lock:
            self._expire(self.sites[cloud_id])
            return list(self.sites[cloud_id].webhooks.values())

    def _routes(self) -> list[Route]:
        jira = "/ex/jira/{cloud_id}/rest/api/3"
        return [
            Route("/authorize", self.auth.authorize, methods=["GET"]),
            Route("/oauth/token", self.auth.token, methods=["POST"]),
            Route("/oauth/token/accessible-resources", self._resources, methods=["GET"]),
            Route(f"{jira}/myself", self._myself, methods=["GET"]),
            Route(f"{jira}/project/search", self._projects, methods=["GET"]),
            Route(f"{jira}/webhook", self._webhook, methods=["GET", "POST", "DELETE"]),
            Route(f"{jira}/webhook/refresh", self._webhook_refresh, methods=["PUT"]),
            Route(f"{jira}/search/jql", self._search, methods=["GET", "POST"]),
            Route(f"{jira}/users/search", self._users, methods=["GET"]),
            Route(f"{jira}/user", self._users, methods=["GET"]),
            Route(f"{jira}/user/email/bulk", self._users, methods=["GET"]),
            Route("/app/report-accounts/", self._report, methods=["POST"]),
            Route("/_fake/clock", self._clock, methods=["GET", "POST"]),
            Route("/_fake/sites", self._fake_sites, methods=["GET"]),
        ]

    async def _resources(self, request: Request) -> Response:
        with self._lock:
            scopes = self.auth.scopes_of(request)
            if scopes is None:
                return _error(401, "unauthorized", "Unauthorized")
            return JSONResponse(
                [
                    {"id": s.cloud_id, "url": s.url, "name": s.name, "scopes": list(scopes)}
                    for s in self.sites.values()
                ]
            )

    def _site(self, request: Request) -> FakeSite | Response:
        if self.auth.scopes_of(request) is None:
            return _error(401, "unauthorized", "Unauthorized")
        site = self.sites.get(request.path_params["cloud_id"])
        if site is None:
            return _error(404, "not_found", "No site with this cloudId")
        self._expire(site)
        return site

    def _expire(self, site: FakeSite) -> None:
        expire_webhooks(site.webhooks, now=self.now())

    async def _myself(self, request: Request) -> Response:
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
        return JSONResponse(
            {"accountId": "5b10a2844c20165700ede21g", "timeZone": self.time_zone.key}
        )

    async def _projects(self, request: Request) -> Response:
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            values = [{"id": i, "key": k, "name": k} for k, i in site.projects.items()]
        return _page(values, request)

    async def _webhook(self, request: Request) -> Response:
        body = await request.json() if request.method != "GET" else {}
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            if request.method == "GET":
                return _page(webhook_values(site.webhooks), request)
            if request.method == "DELETE":
                delete_webhooks(site.webhooks, body.get("webhookIds") or ())
                return Response(status_code=202)
            results = register_webhooks(site.webhooks, body, self._ids, now=self.now())
            return JSONResponse({"webhookRegistrationResult": results})

    async def _webhook_refresh(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            ids = body.get("webhookIds") or ()
            expires = refresh_webhooks(site.webhooks, ids, now=self.now())
        return JSONResponse({"expirationDate": jira_time(expires)})

    async def _search(self, request: Request) -> Response:
        params: dict[str, Any] = (
            await request.json() if request.method == "POST" else dict(request.query_params)
        )
        fields = params.get("fields") or []
        if isinstance(fields, str):
            fields = fields.split(",")
        size = min(int(params.get("maxResults") or 50), 100)
        token = params.get("nextPageToken")
        start = int(base64.urlsafe_b64decode(str(token)).decode()) if token else 0
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
            jql = str(params.get("jql") or "")
            found = sorted(
                (
                    issue
                    for issue in site.issues.values()
                    if matches_search(
                        jql, issue, updated_at=site.updated[issue["id"]], zone=self.time_zone
                    )
                ),
                key=lambda issue: site.updated[issue["id"]],
            )
        page = found[start : start + size]
        issues = [
            {
                "id": issue["id"],
                "key": issue["key"],
                "fields": {k: v for k, v in issue["fields"].items() if k in fields},
            }
            for issue in page
        ]
        answer: dict[str, Any] = {"issues": issues, "isLast": start + size >= len(found)}
        if start + size < len(found):
            answer["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return JSONResponse(answer)

    async def _users(self, request: Request) -> Response:
        with self._lock:
            site = self._site(request)
            if isinstance(site, Response):
                return site
        root = f"/ex/jira/{request.path_params['cloud_id']}"
        return await site.users.answer(request, request.url.path.removeprefix(root))

    async def _report(self, request: Request) -> Response:
        with self._lock:
            if self.auth.scopes_of(request) is None:
                return _error(401, "unauthorized", "Unauthorized")
        return await self.reporting.reporting(request)

    async def _clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            seconds = body.get("advance") if isinstance(body, dict) else None
            if not isinstance(seconds, int | float) or seconds < 0:
                return _error(400, "invalid_request", '{"advance": SECONDS} moves the clock on')
            self.advance(float(seconds))
        return JSONResponse({"now": self.now(), "offset": self.offset})

    async def _fake_sites(self, request: Request) -> Response:
        """For `addon simulate oauth send`: each site and the webhooks registered for it."""
        with self._lock:
            answer = []
            for site in self.sites.values():
                self._expire(site)
                answer.append(
                    {
                        "cloudId": site.cloud_id,
                        "url": site.url,
                        "webhooks": [
                            {"id": h.id, "url": h.url, "events": list(h.events)}
                            for h in site.webhooks.values()
                        ],
                    }
                )
        return JSONResponse(answer)


def _page(values: list[dict[str, Any]], request: Request) -> JSONResponse:
    start = int(request.query_params.get("startAt") or 0)
    size = int(request.query_params.get("maxResults") or 50)
    chunk = values[start : start + size]
    return JSONResponse(
        {
            "startAt": start,
            "maxResults": size,
            "total": len(values),
            "isLast": start + size >= len(values),
            "values": chunk,
        }
    )
