"""The consent routes: `/oauth/connect` (the admin, with the inspector's credentials) and the same
at `/inspector/sites/connect` (the Sites page's button), the callback Atlassian redirects back to,
and the page where the admin picks a site when a consent covers several.

The callback is outside the inspector's Basic-auth realm: the state cookie set by either connect
route (its path is `/oauth/callback`) is what ties it to the admin's browser. A consent covering several sites is held under a handle in
a cookie of the same kind; picking one is a form post with the CSRF guard's token.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, request_response

from addon.inspector._access import InspectorAccess
from addon.inspector._csrf import FIELD, REFERRER_POLICY, CsrfGuard, CsrfRefused
from addon.inspector._throttle import LoginThrottle
from addon.sites._connect import (
    CHOICE_SECONDS,
    choose_site,
    complete_consent,
    hold_for_choice,
    resume_choice,
)
from addon.sites._consent import STATE_COOKIE, authorize_url, check_state, start_consent
from addon.sites._errors import AtlassianError, StateRefused
from addon.sites._records import Site
from addon.sites._webhooks import UpkeepReport
from addon.web._clients import TrustedProxies

if TYPE_CHECKING:
    from addon.sites._door import SiteDoor

__all__ = [
    "CHOICE_COOKIE",
    "INSPECTOR_CONNECT",
    "PROJECTS_COOKIE",
    "parse_projects",
    "site_routes",
]

logger = logging.getLogger("addon.sites")

CHOICE_COOKIE = "addon_oauth_choice"
PROJECTS_COOKIE = "addon_oauth_projects"
INSPECTOR_CONNECT = "/inspector/sites/connect"
"""Where the Sites page's Connect button starts a consent, as `/oauth/connect` does."""
_PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,99}")


def parse_projects(text: str | None) -> tuple[str, ...] | None:
    """`DEV,OPS` as project keys (None: every project); ValueError for anything else."""
    if text is None or not text.strip():
        return None
    keys = tuple(dict.fromkeys(key.strip().upper() for key in text.split(",") if key.strip()))
    bad = [key for key in keys if not _PROJECT_KEY.fullmatch(key)]
    if bad or not keys or len(keys) > 100:
        raise ValueError(
            f"projects: {', '.join(bad[:3]) or text[:50]!r} are not project keys; give them"
            " comma-separated, e.g. DEV,OPS (at most 100), or none for every project"
        )
    return keys


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(text, status_code=status, headers={"Referrer-Policy": REFERRER_POLICY})


def _refused(status: int, reason: str) -> HTMLResponse:
    return _page(
        "Cannot connect the site",
        f'<p class="reason">{html.escape(reason)}</p><p><a href="connect">Start again</a></p>',
        status,
    )


def _continue_page(target: str) -> HTMLResponse:
    """A page that goes on to Atlassian's consent page at once.

    A form on the Sites page leads here; a redirect to Atlassian in answer would be blocked, since
    the page's `form-action 'self'` also covers where a form submission is redirected."""
    url = html.escape(target)
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={url}">'
        "<title>Connecting a site</title></head><body><main><h1>Connecting a site</h1>"
        f'<p><a id="continue" href="{url}">Continue to Atlassian to approve the app</a></p>'
        "</main></body></html>"
    )
    return HTMLResponse(text, headers={"Referrer-Policy": REFERRER_POLICY})


def _connected(site: Site, report: UpkeepReport | None, problem: str | None) -> HTMLResponse:
    parts = [f"<p>{html.escape(site.url)} (cloudId {html.escape(site.cloud_id)}) is connected.</p>"]
    if report is not None and report.registered:
        ids = ", ".join(str(i) for i in report.registered)
        parts.append(f"<p>Webhooks registered: {html.escape(ids)}.</p>")
    errors = [*(report.errors if report is not None else ()), *([problem] if problem else [])]
    if errors:
        items = "".join(f"<li>{html.escape(error)}</li>" for error in errors)
        parts.append(
            f'<div class="errors"><p>Jira refused a webhook registration:</p><ul>{items}</ul>'
            "<p>No delivery comes from this site until it is fixed (SITE_WEBHOOK_EVENTS; the"
            " projects the app can see).</p></div>"
        )
    return _page("Site connected", "".join(parts), 200)


def site_routes(door: SiteDoor) -> Sequence[BaseRoute]:
    settings = door.settings
    base_path = urlsplit(settings.base_url).path.rstrip("/")
    secure = urlsplit(settings.base_url).scheme == "https"
    guard = CsrfGuard.for_base_url(settings.base_url)
    guard = CsrfGuard(origin=guard.origin, cookie_path=f"{base_path}/oauth", secure=secure)

    async def connect(request: Request) -> Response:
        return await _connect(request, page=False)

    async def connect_page(request: Request) -> Response:
        return await _connect(request, page=True)

    async def _connect(request: Request, *, page: bool) -> Response:
        work = door.work
        try:
            projects = parse_projects(request.query_params.get("projects"))
        except ValueError as exc:
            return _refused(400, str(exc))
        cookie = await start_consent(work.sites, base_url=settings.base_url, now=door.now())
        assert settings.atlassian_client_id is not None
        target = authorize_url(
            settings.atlassian_auth_url,
            client_id=settings.atlassian_client_id,
            scopes=settings.atlassian_scopes,
            base_url=settings.base_url,
            state=cookie.value,
        )
        response = _continue_page(target) if page else RedirectResponse(target, status_code=303)
        response.set_cookie(
            cookie.name,
            cookie.value,
            max_age=cookie.max_age,
            path=cookie.path,
            secure=cookie.secure,
            httponly=cookie.httponly,
            samesite="lax",
        )
        if projects is None:
            response.delete_cookie(PROJECTS_COOKIE, path=f"{base_path}/oauth")
        else:
            response.set_cookie(
                PROJECTS_COOKIE,
                ",".join(projects),
                max_age=cookie.max_age + int(CHOICE_SECONDS),
                path=f"{base_path}/oauth",
                secure=secure,
                httponly=True,
                samesite="lax",
            )
        return response

    def _projects(request: Request) -> tuple[str, ...] | None:
        try:
            return parse_projects(request.cookies.get(PROJECTS_COOKIE))
        except ValueError:
            return None

    async def callback(request: Request) -> Response:
        work = door.work
        query = request.query_params
        try:
            await check_state(
                work.sites,
                state=query.get("state"),
                cookie=request.cookies.get(STATE_COOKIE),
                now=door.now(),
            )
        except StateRefused as refusal:
            logger.info("oauth callback refused: %s", refusal.reason)
            return _refused(400, refusal.reason)
        if query.get("error"):
            reason = f"Atlassian answered {query['error'][:100]}: the consent was not given"
            return _forget_state(_refused(400, reason))
        code = query.get("code")
        if not code:
            return _forget_state(_refused(400, "the callback carries no code"))
        try:
            consent = await complete_consent(work.api, code=code, base_url=settings.base_url)
        except AtlassianError as exc:
            logger.warning("oauth callback: %s", exc)
            return _forget_state(_refused(502, str(exc)))
        single = consent.single
        if single is not None:
            connected = await work.connect(consent, single, projects=_projects(request))
            return _forget_state(_connected(*connected))
        handle = await hold_for_choice(work.sites, consent, now=door.now())
        response = RedirectResponse(f"{base_path}/oauth/choose", status_code=303)
        response.set_cookie(
            CHOICE_COOKIE,
            handle,
            max_age=int(CHOICE_SECONDS),
            path=f"{base_path}/oauth/choose",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
        return _forget_state(response)

    def _forget_state(response: Response) -> Response:
        response.delete_cookie(STATE_COOKIE, path=f"{base_path}/oauth/callback")
        return response

    async def choose(request: Request) -> Response:
        work = door.work
        handle = request.cookies.get(CHOICE_COOKIE)
        if not handle:
            return _refused(400, "no site choice is under way in this browser; start again")
        if request.method == "POST":
            try:
                form = await guard.check(request)
            except CsrfRefused as refusal:
                return _refused(403, refusal.reason)
            try:
                consent = await resume_choice(work.sites, handle, now=door.now())
                resource = choose_site(consent.resources, form.get("site", ""))
            except StateRefused as refusal:
                return _refused(400, refusal.reason)
            except LookupError as exc:
                return _refused(400, str(exc))
            connected = await work.connect(consent, resource, projects=_projects(request))
            response: Response = _connected(*connected)
            response.delete_cookie(CHOICE_COOKIE, path=f"{base_path}/oauth/choose")
            return response
        try:
            resources = await work.sites.peek_consent(handle, now=door.now())
        except StateRefused as refusal:
            return _refused(400, refusal.reason)
        token = guard.session_token(request)
        options = "".join(
            f'<li><label><input type="radio" name="site" value="{html.escape(r.cloud_id)}"'
            f"{' checked' if i == 0 else ''}> {html.escape(r.name)}"
            f" ({html.escape(r.url)})</label></li>"
            for i, r in enumerate(resources)
        )
        body = (
            "<p>The consent covers several sites. Pick the one to connect (connect another"
            ' with another consent at <a href="connect">/oauth/connect</a>).</p>'
            f'<form method="post"><ul>{options}</ul>'
            f'<input type="hidden" name="{FIELD}" value="{html.escape(token)}">'
            '<button type="submit">Connect this site</button></form>'
        )
        page = _page("Choose a site", body)
        guard.remember(request, page, token)
        return page

    throttle = LoginThrottle(settings.inspector_login_attempts)
    proxies = TrustedProxies(settings.forwarded_allow_ips)

    def admin(endpoint: Callable[[Request], Awaitable[Response]]) -> InspectorAccess:
        app = request_response(endpoint)
        return InspectorAccess(app, settings=settings, throttle=throttle, proxies=proxies)

    return [
        Route("/oauth/connect", admin(connect), methods=["GET"], name="oauth_connect"),
        # The Sites page's button: under /inspector, where the browser already sends the
        # inspector's credentials, so it does not ask for them again as it would at /oauth.
        Route(INSPECTOR_CONNECT, admin(connect_page), methods=["GET"], name="oauth_continue"),
        Route("/oauth/callback", callback, methods=["GET"], name="oauth_callback"),
        Route("/oauth/choose", choose, methods=["GET", "POST"], name="oauth_choose"),
    ]
