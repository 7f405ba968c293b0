"""`POST /sync/{adapter}/items/{item_id}`: the user's other systems push an item to Jira.

Authenticated with the bearer `INSPECTOR_API_TOKEN`. Answers 200 with the link when Jira has the
change, 202 when it is durably queued (the outbox retries it), a 4xx with the reason otherwise.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from addon.errors import BadRequest, NotFound, PayloadTooLarge, Refusal, Unauthorized
from addon.inspector import bearer_token, is_api_token
from addon.services import Services
from addon.sync import (
    Change,
    InvalidItem,
    OutboxState,
    Pushed,
    SyncError,
    UnknownAdapter,
    UnmappedValue,
)

__all__ = ["ANSWER_WITHIN", "MAX_BODY", "pushed_json", "routes"]

MAX_BODY = 256 * 1024
ANSWER_WITHIN = 10.0
"""Seconds the endpoint waits for Jira before it answers 202 (the attempt goes on)."""
CHALLENGE = 'Bearer realm="sync"'


class ApiClosed(Refusal):
    status = 403
    code = "api_closed"


class Unmapped(Refusal):
    status = 422
    code = "unmapped_value"


class JiraFailed(Refusal):
    status = 422
    code = "jira_refused"


def _check_token(request: Request, expected: str | None) -> None:
    if expected is None:
        raise ApiClosed("the sync API is closed: set INSPECTOR_API_TOKEN to open it")
    given = bearer_token(request.headers.get("authorization"))
    if given is None:
        raise Unauthorized("send the API token as 'Authorization: Bearer <INSPECTOR_API_TOKEN>'")
    if not is_api_token(given, expected):
        raise Unauthorized("the bearer token is not this server's INSPECTOR_API_TOKEN")


async def _body(request: Request) -> Any:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(
            'the body is not JSON; send {"title": ..., "description": ..., "status": ...,'
            ' "priority": ...}'
        ) from None


def pushed_json(pushed: Pushed) -> dict[str, Any]:
    link = pushed.link
    return {
        "state": pushed.entry.state.value,
        "entry": pushed.entry.id,
        "attempts": pushed.entry.attempts,
        "last_error": pushed.entry.last_error,
        "link": None
        if link is None
        else {
            "adapter": link.adapter,
            "item_id": link.item_id,
            "site": link.site,
            "issue_id": link.issue_id,
            "issue_key": link.issue_key,
            "browse_url": link.browse_url,
        },
    }


async def push_item(request: Request) -> Response:
    services: Services = request.app.state.services
    _check_token(request, services.settings.inspector_api_token)
    adapter = request.path_params["adapter"]
    item_id = request.path_params["item_id"]
    body = await _body(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object of title, description, status, priority")
    try:
        change = Change.from_dict(body)
        entry_id = await services.sync.queue(adapter, item_id, change, at_once=True)
    except UnknownAdapter as exc:
        raise NotFound(str(exc), code="unknown_adapter") from None
    except UnmappedValue as exc:
        raise Unmapped(str(exc)) from None
    except InvalidItem as exc:
        raise BadRequest(str(exc), code="invalid_item") from None
    except SyncError as exc:
        raise BadRequest(str(exc)) from None
    except TypeError:
        raise BadRequest("title, description, status and priority are text") from None
    pushed = await services.sync.run(entry_id, wait=ANSWER_WITHIN)
    if pushed.entry.state is OutboxState.FAILED:
        raise JiraFailed(pushed.entry.last_error or "the change failed")
    return JSONResponse(pushed_json(pushed), status_code=200 if pushed.done else 202)


async def _with_challenge(request: Request) -> Response:
    try:
        return await push_item(request)
    except Unauthorized as exc:
        return JSONResponse(exc.to_dict(), status_code=401, headers={"WWW-Authenticate": CHALLENGE})


routes = [
    Route("/sync/{adapter}/items/{item_id}", _with_challenge, methods=["POST"], name="sync-push")
]
