"""The inspector's People page (map and unmap accounts by hand, CSRF-protected) and the people JSON
API for the user's own systems (changes only with the `INSPECTOR_API_TOKEN` bearer token)."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from addon.errors import BadRequest, NotFound, PayloadTooLarge, Refusal
from addon.inspector._access import BEARER, REALM
from addon.inspector._csrf import CsrfRefused
from addon.inspector._routes import (
    ANY_METHOD,
    _chrome,
    _guard,
    _page,
    _page_error,
    _path,
    _services,
)
from addon.people import (
    AccountState,
    BadPerson,
    MappingState,
    NotAPerson,
    Person,
    UnknownAccount,
    UnknownPerson,
)
from addon.reach import site_name

__all__ = ["routes"]

logger = logging.getLogger("addon.inspector")

MAX_BODY_BYTES = 16 * 1024 * 1024


class BearerRequired(Refusal):
    """A JSON API call that changes state without the API's bearer token."""

    status = 401
    code = "unauthorized"


def _require_bearer(request: Request) -> None:
    if not getattr(request.state, BEARER, False):
        configured = _services(request).settings.inspector_api_token is not None
        hint = "" if configured else "; set INSPECTOR_API_TOKEN on the server first"
        raise BearerRequired(
            "changing people takes 'Authorization: Bearer <INSPECTOR_API_TOKEN>'; the "
            f"inspector's Basic credentials are not accepted for changes{hint}"
        )


def _refused(refusal: Refusal) -> JSONResponse:
    headers = {"WWW-Authenticate": f'Bearer realm="{REALM}"'} if refusal.status == 401 else None
    return JSONResponse(
        {"error": refusal.code, "reason": refusal.reason},
        status_code=refusal.status,
        headers=headers,
    )


def _site(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return site_name(value)
    except ValueError:
        raise BadRequest(f"site: {value[:100]!r} is not a site URL") from None


def _form_site(form: dict[str, str]) -> str:
    site = _site(form.get("site"))
    if site is None:
        raise BadRequest("the form names no site; reload the People page and try again")
    return site


def _person_json(person: Person) -> dict[str, Any]:
    return {"id": person.id, "email": person.email, "name": person.name}


def _account_json(state: AccountState) -> dict[str, Any]:
    account = state.account
    return {
        "site": account.site,
        "account_id": account.account_id,
        "account_type": account.account_type.value,
        "display_name": account.display_name,
        "active": account.active,
        "email": account.email,
        "email_source": account.email_source.value if account.email_source else None,
        "state": state.state.value,
        "person_id": state.person_id,
        "mapped_by": state.how.value if state.how else None,
        "candidates": list(state.candidates),
    }


def _people_from(body: object) -> list[Person]:
    items = body if isinstance(body, list) else [body]
    people = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"person {n}: expected an object with 'id', 'email' and 'name'")
        unknown = set(item) - {"id", "email", "name"}
        if unknown:
            raise BadRequest(f"person {n}: unknown field(s) {', '.join(sorted(unknown))}")
        values = [item.get(k) for k in ("id", "email", "name")]
        if any(v is not None and not isinstance(v, str) for v in values):
            raise BadRequest(f"person {n}: 'id', 'email' and 'name' are strings")
        try:
            people.append(Person(values[0] or "", values[1], values[2]))
        except BadPerson as exc:
            raise BadRequest(f"person {n}: {exc}") from None
    return people


async def _json_body(request: Request) -> object:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES:,} bytes; split it")
    try:
        return json.loads(body)
    except ValueError:
        raise BadRequest("the body is not JSON: send a person object or a list of them") from None


async def api_people(request: Request) -> Response:
    """GET: every person; POST (bearer): upsert one person or a list, by id."""
    try:
        people = _services(request).people
        if request.method == "GET":
            return JSONResponse({"people": [_person_json(p) for p in await people.people.people()]})
        _require_bearer(request)
        batch = _people_from(await _json_body(request))
        written = await people.upsert(batch)
        _wake(request)
        return JSONResponse({"written": written})
    except Refusal as refusal:
        return _refused(refusal)


async def api_person(request: Request) -> Response:
    """DELETE (bearer): remove a person; their accounts become unmapped."""
    try:
        _require_bearer(request)
        person_id = request.path_params["person_id"]
        if not await _services(request).people.remove(person_id):
            raise NotFound(f"there is no person with id {person_id!r}")
        return Response(status_code=204)
    except Refusal as refusal:
        return _refused(refusal)


async def api_accounts(request: Request) -> Response:
    """The accounts (of `?site=URL`, or every site) with their mapping state."""
    try:
        site = _site(request.query_params.get("site"))
        states = await _services(request).people.directory.states(site)
        return JSONResponse({"site": site, "accounts": [_account_json(s) for s in states]})
    except Refusal as refusal:
        return _refused(refusal)


async def people_page(request: Request) -> Response:
    people = _services(request).people
    states = await people.directory.states()
    everyone = await people.people.people()
    context = {
        **_chrome(request, "People", "people"),
        "unmapped": [
            s for s in states if s.state in (MappingState.UNMAPPED, MappingState.CONFLICT)
        ],
        "mapped": [s for s in states if s.state is MappingState.MAPPED],
        "apart": [s for s in states if s.state is MappingState.NOT_A_PERSON],
        "people": everyone,
        "held": await people.held.count(),
        "map_url": _path(request, "inspector:people_map"),
        "unmap_url": _path(request, "inspector:people_unmap"),
        "json_url": _path(request, "inspector:api_accounts"),
    }
    return _page(request, "people.html", context)


async def _form(request: Request) -> dict[str, str] | Response:
    try:
        form = await _guard(request).check(request)
    except CsrfRefused as refusal:
        return _page_error(request, refusal.status, refusal.reason)
    return dict(form)


async def map_page(request: Request) -> Response:
    """Map an account to a person from the People page's form."""
    form = await _form(request)
    if isinstance(form, Response):
        return form
    people = _services(request).people
    try:
        site = _form_site(form)
        await people.map(site, form.get("account_id", ""), form.get("person_id", ""))
    except (BadRequest, UnknownAccount, UnknownPerson, NotAPerson) as exc:
        return _page_error(request, 400, str(exc))
    logger.info("account %s of %s mapped from the inspector", form.get("account_id"), site)
    _wake(request)
    return RedirectResponse(_path(request, "inspector:people"), status_code=303)


async def unmap_page(request: Request) -> Response:
    form = await _form(request)
    if isinstance(form, Response):
        return form
    try:
        site = _form_site(form)
        await _services(request).people.unmap(site, form.get("account_id", ""))
    except (BadRequest, UnknownAccount) as exc:
        return _page_error(request, 400, str(exc))
    logger.info("account %s of %s unmapped from the inspector", form.get("account_id"), site)
    return RedirectResponse(_path(request, "inspector:people"), status_code=303)


def _wake(request: Request) -> None:
    worker = _services(request).worker
    if worker is not None:
        worker.wake()


routes = [
    Route("/people", people_page, methods=["GET"], name="people"),
    Route("/people/map", map_page, methods=ANY_METHOD, name="people_map"),
    Route("/people/unmap", unmap_page, methods=ANY_METHOD, name="people_unmap"),
    Route("/api/people", api_people, methods=["GET", "POST"], name="api_people"),
    Route("/api/people/{person_id}", api_person, methods=["DELETE"], name="api_person"),
    Route("/api/accounts", api_accounts, methods=["GET"], name="api_accounts"),
]
