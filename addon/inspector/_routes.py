"""The inspector's pages and JSON API: thin endpoints over `_queries`, `_reads` and `_present`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, request_response

import descriptor
from addon.doors import ListsSites, SiteFacts
from addon.errors import BadRequest, NotFound
from addon.forge import ForgeInstallation, ForgeInstallations
from addon.inspector._csrf import FIELD, REFERRER_POLICY, CsrfGuard, CsrfRefused
from addon.inspector._forge import forge_json, forge_view
from addon.inspector._json import delivery_detail_json, delivery_json, tenant_json
from addon.inspector._live import event_stream, new_event_json
from addon.inspector._present import iso_time
from addon.inspector._queries import (
    DEFAULT_LIMIT,
    STATUSES,
    delivery_filter,
    delivery_id,
    list_query,
    stream_start,
)
from addon.inspector._reads import forge_only, load_detail, load_page, load_tenants, tenants_of
from addon.inspector._sync_page import sync_json, sync_state
from addon.inspector._views import UrlFor, detail_view, row_view, tenant_view
from addon.services import Services
from addon.store import Delivery, NotReplayable

__all__ = ["index_redirect_app", "routes", "state_changing"]

logger = logging.getLogger("addon.inspector")

Endpoint = Callable[[Request], Awaitable[Response]]
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ERROR_TITLES = {400: "Bad request", 403: "Refused", 404: "Not found", 409: "Cannot do that now"}


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _path(request: Request, name: str, **params: str) -> str:
    """The path of a named route, under the base URL's path prefix."""
    return request.url_for(name, **params).path


def _with_query(path: str, params: Mapping[str, Any]) -> str:
    given = {name: value for name, value in params.items() if value not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


def _detail_url(request: Request) -> UrlFor:
    return lambda delivery: _path(request, "inspector:delivery", delivery_id=str(delivery))


def _chrome(request: Request, title: str, current: str) -> dict[str, Any]:
    """What every page's frame needs: its title and the navigation links."""
    return {
        "title": title,
        "current": current,
        "nav": {
            "deliveries": _path(request, "inspector:deliveries"),
            "tenants": _path(request, "inspector:tenants"),
            "sites": _path(request, "inspector:sites"),
            "people": _path(request, "inspector:people"),
            "sync": _path(request, "inspector:sync"),
            "api": _path(request, "inspector:api_deliveries"),
            "css": _path(request, "static", path="inspector.css"),
            "js": _path(request, "static", path="inspector.js"),
        },
    }


def _guard(request: Request) -> CsrfGuard:
    return CsrfGuard.for_base_url(_services(request).settings.base_url)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """An inspector page, with this browser session's token for any form it holds."""
    guard = _guard(request)
    token = guard.session_token(request)
    response = _services(request).templates.TemplateResponse(
        request,
        f"inspector/{template}",
        {**context, "csrf": {"field": FIELD, "token": token}},
        status_code=status,
        headers={"Referrer-Policy": REFERRER_POLICY},
    )
    guard.remember(request, response, token)
    return response


def _page_error(request: Request, status: int, reason: str) -> Response:
    context = {**_chrome(request, ERROR_TITLES.get(status, "Error"), ""), "reason": reason}
    return _page(request, "error.html", context, status)


def state_changing(endpoint: Endpoint) -> Endpoint:
    """The way in to every page that changes state: only a same-origin POST of the inspector's
    own form, with this session's token, reaches `endpoint`; anything else is refused (403)."""

    async def guarded(request: Request) -> Response:
        try:
            await _guard(request).check(request)
        except CsrfRefused as refusal:
            return _page_error(request, refusal.status, refusal.reason)
        return await endpoint(request)

    return guarded


async def index_redirect(request: Request) -> Response:
    return RedirectResponse(_path(request, "inspector:deliveries"), status_code=307)


index_redirect_app = request_response(index_redirect)


def _forge_events(services: Services) -> list[str]:
    """The Forge events the add-on's manifest triggers on: its webhooks' Forge names, lifecycle."""
    names = set(descriptor.LIFECYCLE_EVENTS)
    for module in services.rendered.webhooks:
        forge = descriptor.product_event_for(module.event)
        if forge is not None:
            names.add(forge.name)
    return sorted(names)


async def deliveries_page(request: Request) -> Response:
    services = _services(request)
    store = services.store
    try:
        query = list_query(request.query_params)
    except BadRequest as problem:
        return _page_error(request, 400, problem.reason)
    newest = await store.deliveries.newest_id() if query.before_id is None else None
    page = await load_page(store, services.tenants, query)
    detail_url = _detail_url(request)
    here = _path(request, "inspector:deliveries")
    limit = {"limit": query.limit} if query.limit != DEFAULT_LIMIT else {}
    kinds = [door.kind for door in services.doors]
    events = sorted({module.event for module in services.rendered.webhooks})
    if "forge" in kinds:
        events += _forge_events(services)
    if query.where.event and query.where.event not in events:
        events.insert(0, query.where.event)
    context = {
        **_chrome(request, "Deliveries", "deliveries"),
        "rows": [
            row_view(d, page.tenants.get(d.origin or ""), detail_url) for d in page.deliveries
        ],
        "filters": query.filters,
        "filtered": bool(query.filters),
        "events": events,
        "statuses": STATUSES,
        "kinds": kinds,
        "tenants": [(t.client_key, t.base_url) for t in await store.tenants.all()],
        "sources": [source.name for source in await services.sources.list()],
        "older_url": _with_query(here, {**query.filters, **limit, "cursor": page.next_cursor})
        if page.next_cursor
        else None,
        "newest_url": _with_query(here, {**query.filters, **limit})
        if query.before_id is not None
        else None,
        "stream_url": _with_query(
            _path(request, "inspector:api_stream"), {**query.filters, "after": newest}
        )
        if newest is not None
        else None,
        "json_url": _with_query(_path(request, "inspector:api_deliveries"), query.filters),
    }
    return _page(request, "deliveries.html", context)


async def delivery_page(request: Request) -> Response:
    services = _services(request)
    try:
        wanted = delivery_id(request.path_params["delivery_id"])
    except BadRequest as problem:
        return _page_error(request, 400, problem.reason)
    detail = await load_detail(services.store, services.tenants, wanted)
    if detail is None:
        return _page_error(request, 404, f"there is no delivery {wanted}; it may have been pruned")
    view = detail_view(detail.delivery, detail.tenant, detail.duplicates, _detail_url(request))
    context = {
        **_chrome(request, f"Delivery {wanted}", "deliveries"),
        "d": view,
        "json_url": _path(request, "inspector:api_delivery", delivery_id=str(wanted)),
        "replay_url": _path(request, "inspector:replay", delivery_id=str(wanted)),
    }
    return _page(request, "delivery.html", context)


@state_changing
async def replay_page(request: Request) -> Response:
    """Run a finished delivery's handlers again (409 with the reason if it cannot be)."""
    services = _services(request)
    try:
        wanted = delivery_id(request.path_params["delivery_id"])
    except BadRequest as problem:
        return _page_error(request, 400, problem.reason)
    try:
        replayed = await services.store.queue.replay(wanted)
    except NotReplayable as refusal:
        return _page_error(request, 409, refusal.reason)
    if replayed is None:
        return _page_error(request, 404, f"there is no delivery {wanted}; it may have been pruned")
    logger.info("delivery %s replayed from the inspector (replay %s)", wanted, replayed.replays)
    if services.worker is not None:
        services.worker.wake()
    return RedirectResponse(_detail_url(request)(wanted), status_code=303)


async def tenants_page(request: Request) -> Response:
    store = _services(request).store
    summaries = await load_tenants(store)
    detail_url = _detail_url(request)
    here = _path(request, "inspector:deliveries")
    tenants = [
        tenant_view(
            s.tenant,
            s.last,
            detail_url,
            _with_query(here, {"client_key": s.tenant.client_key}),
            s.installation_ids,
        )
        for s in summaries
    ]
    context = {
        **_chrome(request, "Tenants", "tenants"),
        "tenants": tenants,
        "forge": {s.tenant.client_key: [forge_view(i) for i in s.forge] for s in summaries},
        "forge_only": [
            (forge_view(i), _with_query(here, {"kind": "forge", "origin": i.installation_id}))
            for i in await forge_only(store, summaries)
        ],
        "json_url": _path(request, "inspector:api_tenants"),
    }
    return _page(request, "tenants.html", context)


async def _sites(request: Request) -> tuple[list[SiteFacts], list[dict[str, str]]]:
    """Every site of every door: Connect tenants, and what each door that lists sites knows."""
    services = _services(request)
    sites = [
        SiteFacts(
            site_url=t.base_url,
            kind="connect",
            key=t.client_key,
            status=t.state.value,
            facts=[("Installed", iso_time(t.installed_at) or "?")],
        )
        for t in await services.store.tenants.all()
    ]
    links = []
    base_path = services.settings.base_path
    listing = [door for door in services.doors if isinstance(door, ListsSites)]
    for door in listing:
        sites += await door.site_facts()
        if door.connect_path:
            label = f"Connect a site ({door.kind})"
            links.append({"url": base_path + door.connect_path, "label": label})
    if not any(door.kind == "forge" for door in listing):
        sites += _forge_sites(await ForgeInstallations(services.store.db, services.store.box).all())
    return sorted(sites, key=lambda s: (s.site_url, s.kind)), links


def _forge_sites(installations: Sequence[ForgeInstallation]) -> list[SiteFacts]:
    listed = []
    for i in installations:
        status = "uninstalled" if i.uninstalled else "silent" if i.silent() else "installed"
        facts = [
            ("cloudId", i.cloud_id or "?"),
            ("App version", i.app_version or "?"),
            ("Environment", i.environment or "?"),
            ("Last scheduled tick", iso_time(i.last_tick_at) or "none"),
        ]
        url = i.site_url or i.api_base_url
        listed.append(SiteFacts(url, "forge", i.installation_id, status, facts))
    return listed


async def sites_page(request: Request) -> Response:
    sites, links = await _sites(request)
    here = _path(request, "inspector:deliveries")
    context = {
        **_chrome(request, "Sites", "sites"),
        "sites": [
            {
                "site_url": s.site_url,
                "kind": s.kind,
                "key": s.key,
                "status": s.status,
                "facts": s.facts,
                "warnings": s.warnings,
                "deliveries_url": _with_query(here, {"kind": s.kind, "origin": s.key}),
            }
            for s in sites
        ],
        "connect_links": links,
        "json_url": _path(request, "inspector:api_sites"),
    }
    return _page(request, "sites.html", context)


async def api_sites(request: Request) -> Response:
    sites, links = await _sites(request)
    return JSONResponse(
        {
            "sites": [
                {
                    "site_url": s.site_url,
                    "kind": s.kind,
                    "key": s.key,
                    "status": s.status,
                    "facts": dict(s.facts),
                    "warnings": list(s.warnings),
                }
                for s in sites
            ],
            "connect": links,
        }
    )


async def api_deliveries(request: Request) -> Response:
    services = _services(request)
    query = list_query(request.query_params)
    page = await load_page(services.store, services.tenants, query)
    return JSONResponse(
        {
            "deliveries": [
                delivery_json(d, page.tenants.get(d.origin or "")) for d in page.deliveries
            ],
            "next_cursor": page.next_cursor,
        }
    )


async def api_delivery(request: Request) -> Response:
    services = _services(request)
    wanted = delivery_id(request.path_params["delivery_id"])
    detail = await load_detail(services.store, services.tenants, wanted)
    if detail is None:
        raise NotFound(f"there is no delivery {wanted}")
    return JSONResponse(delivery_detail_json(detail.delivery, detail.tenant, detail.duplicates))


async def api_tenants(request: Request) -> Response:
    store = _services(request).store
    summaries = await load_tenants(store)
    tenants = []
    for s in summaries:
        tenant = tenant_json(s.tenant, s.last, s.installation_ids)
        tenant["forge_installations"] = [forge_json(i) for i in s.forge]
        tenants.append(tenant)
    others = [forge_json(i) for i in await forge_only(store, summaries)]
    return JSONResponse({"tenants": tenants, "forge_installations": others})


async def api_stream(request: Request) -> Response:
    services = _services(request)
    where, _ = delivery_filter(request.query_params)
    after = stream_start(request.query_params, request.headers.get("last-event-id"))
    template = services.templates.env.get_template("inspector/_row.html")
    detail_url = _detail_url(request)

    async def render(deliveries: Sequence[Delivery]) -> list[str]:
        tenants = await tenants_of(services.tenants, deliveries, services.store)
        return [
            new_event_json(
                d.id, template.render(row=row_view(d, tenants.get(d.origin or ""), detail_url))
            )
            for d in deliveries
        ]

    return StreamingResponse(
        event_stream(services.store, where, after, render, request.is_disconnected),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


async def sync_page(request: Request) -> Response:
    context = {**_chrome(request, "Sync", "sync"), **await sync_state(request)}
    return _page(
        request, "sync.html", {**context, "json_url": _path(request, "inspector:api_sync")}
    )


routes = [
    Route("/", deliveries_page, methods=["GET"], name="deliveries"),
    Route("/deliveries/{delivery_id}", delivery_page, methods=["GET"], name="delivery"),
    Route("/deliveries/{delivery_id}/replay", replay_page, methods=ANY_METHOD, name="replay"),
    Route("/tenants", tenants_page, methods=["GET"], name="tenants"),
    Route("/sites", sites_page, methods=["GET"], name="sites"),
    Route("/api/sites", api_sites, methods=["GET"], name="api_sites"),
    Route("/api/deliveries", api_deliveries, methods=["GET"], name="api_deliveries"),
    Route("/api/deliveries/{delivery_id}", api_delivery, methods=["GET"], name="api_delivery"),
    Route("/api/tenants", api_tenants, methods=["GET"], name="api_tenants"),
    Route("/api/stream", api_stream, methods=["GET"], name="api_stream"),
    Route("/sync", sync_page, methods=["GET"], name="sync"),
    Route("/api/sync", sync_json, methods=["GET"], name="api_sync"),
]
