"""The fake Jira's users, for people: the user search (paged), one user by account id, the email
API, and Atlassian's personal data reporting API, so people run offline.

As Jira answers (see `addon.people._sync`): `GET /rest/api/3/users/search?startAt&maxResults`
lists users with `emailAddress` only where its owner made it visible; `GET /rest/api/3/user`
returns one or 404; `GET /rest/api/3/user/email/bulk?accountId=...` gives every email to an app
that is allowed (`email_api`), 400 otherwise. `POST /app/report-accounts/` answers 204 when
nothing changed, 200 listing `closed` and `updated` accounts, with a `Cycle-Period` header: on the
site, where a Connect app reports with its JWT (`addon.people.report_url`); with `connect_secret`
set, only to a token signed with it whose `qsh` is over that call (401 otherwise), as the site
checks any Connect call. The fake Atlassian gateway answers it for bearer tokens (`reporting`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from addon.auth import query_string_hash, verify_hs256
from addon.errors import Refusal

__all__ = ["FakeJiraUsers", "FakeUser"]

SEARCH_LIMIT = 1000


@dataclass(slots=True)
class FakeUser:
    account_id: str
    display_name: str
    email: str | None = None
    visible: bool = False
    """Whether its owner shows the email on the profile."""
    account_type: str = "atlassian"
    active: bool = True

    def json(self, base: str) -> dict[str, Any]:
        user: dict[str, Any] = {
            "self": f"{base}/rest/api/3/user?accountId={self.account_id}",
            "accountId": self.account_id,
            "accountType": self.account_type,
            "displayName": self.display_name,
            "active": self.active,
        }
        if self.visible and self.email is not None:
            user["emailAddress"] = self.email
        return user


@dataclass(slots=True)
class FakeJiraUsers:
    """One site's users; `app` is the ASGI app to serve (or to put behind an httpx transport)."""

    email_api: bool = True
    """Whether this app is approved for the email API (400 otherwise, as for an app without)."""
    users: dict[str, FakeUser] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    cycle_period: int | None = None
    connect_secret: str | None = None
    """A Connect tenant's shared secret the reporting API checks (None: it takes any call)."""
    requests: list[str] = field(default_factory=list)
    """`METHOD path?query` of every request, for tests."""
    reports: list[list[str]] = field(default_factory=list)
    """The account ids of each reporting request."""
    _app: Starlette | None = None

    def add(self, account_id: str, name: str, email: str | None = None, **kw: Any) -> FakeUser:
        user = FakeUser(account_id, name, email, **kw)
        self.users[account_id] = user
        return user

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = Starlette(routes=self._routes())
        return self._app

    def _routes(self) -> list[Route]:
        def logged(
            endpoint: Callable[[Request], Any],
        ) -> Callable[[Request], Any]:
            async def call(request: Request) -> Response:
                query = f"?{request.url.query}" if request.url.query else ""
                self.requests.append(f"{request.method} {request.url.path}{query}")
                response: Response = await endpoint(request)
                return response

            return call

        return [
            Route("/rest/api/3/users/search", logged(self._search), methods=["GET"]),
            Route("/rest/api/3/user", logged(self._user), methods=["GET"]),
            Route("/rest/api/3/user/email/bulk", logged(self._emails), methods=["GET"]),
            Route("/app/report-accounts/", logged(self._report), methods=["POST"]),
        ]

    async def answer(self, request: Request, path: str) -> Response:
        """The answer to a users call at `path` (from the REST API's root: `/rest/api/3/user`),
        for a gateway in front of the site (the fake Atlassian) that authenticated it."""
        endpoints = {
            "/rest/api/3/users/search": self._search,
            "/rest/api/3/user": self._user,
            "/rest/api/3/user/email/bulk": self._emails,
        }
        endpoint = endpoints.get(path)
        if endpoint is None:
            return _error(404, f"no users API at {path}")
        query = f"?{request.url.query}" if request.url.query else ""
        self.requests.append(f"{request.method} {path}{query}")
        return await endpoint(request)

    def _base(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def _search(self, request: Request) -> Response:
        try:
            start = int(request.query_params.get("startAt", "0"))
            size = min(SEARCH_LIMIT, int(request.query_params.get("maxResults", "50")))
        except ValueError:
            return _error(400, "startAt and maxResults must be numbers")
        users = sorted(self.users.values(), key=lambda u: u.account_id)[start : start + size]
        return JSONResponse([u.json(self._base(request)) for u in users])

    async def _user(self, request: Request) -> Response:
        user = self.users.get(request.query_params.get("accountId", ""))
        if user is None:
            return _error(
                404, "Specified user does not exist or you do not have required permissions"
            )
        return JSONResponse(user.json(self._base(request)))

    async def _emails(self, request: Request) -> Response:
        if not self.email_api:
            return _error(400, "The app is not approved for access to user email addresses")
        ids = request.query_params.getlist("accountId")
        found = [
            {"accountId": i, "email": self.users[i].email}
            for i in ids
            if i in self.users and self.users[i].email is not None
        ]
        return JSONResponse(found)

    async def _report(self, request: Request) -> Response:
        refused = self._unsigned(request)
        if refused is not None:
            return refused
        return await self.reporting(request)

    def _unsigned(self, request: Request) -> Response | None:
        if self.connect_secret is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme != "JWT":
                return _error(401, "a Connect call carries Authorization: JWT <token>")
            claims = verify_hs256(token.strip(), self.connect_secret, leeway=30)
        except Refusal as refusal:
            return _error(401, f"the JWT is not valid: {refusal}")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if claims.get("qsh") != query_string_hash(request.method, target):
            return _error(401, "the JWT's qsh is not over this request")
        return None

    async def reporting(self, request: Request) -> Response:
        """The reporting API's answer to a call its caller has authenticated."""
        try:
            body = json.loads(await request.body())
            ids = [a["accountId"] for a in body["accounts"]]
        except (ValueError, KeyError, TypeError):
            return _error(400, "expected {'accounts': [{'accountId', 'updatedAt'}]}")
        self.reports.append(ids)
        headers = {} if self.cycle_period is None else {"Cycle-Period": str(self.cycle_period)}
        listed = [{"accountId": i, "status": "closed"} for i in ids if i in self.closed]
        listed += [{"accountId": i, "status": "updated"} for i in ids if i in self.updated]
        if not listed:
            return Response(status_code=204, headers=headers)
        return JSONResponse({"accounts": listed}, headers=headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errorMessages": [message], "errors": {}}, status_code=status)
