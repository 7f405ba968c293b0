"""`addon simulate oauth send`: a site's delivery as Jira sends a dynamic webhook registered by an
OAuth 2.0 app, to the URL the server registered at the fake Atlassian.

Jira signs it `Authorization: Bearer <JWT>`, HS256 with the app's client secret (../notes C2;
Atlassian documents no claims: the simulator sets `iat` and `exp`, which the integrations we found
check), and the body names the registrations it matched in `matchedWebhookIds`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from addon.simulator._addon import Answer, http_client, refusal_of
from addon.simulator._errors import AddonUnreachable, SimulatorError
from addon.simulator._payloads import build_payload
from addon.simulator._send import webhook_headers

__all__ = ["TOKEN_SECONDS", "delivery_token", "post_site_delivery", "send_oauth"]

TOKEN_SECONDS = 180


def delivery_token(secret: str, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return jwt.encode({"iat": issued, "exp": issued + TOKEN_SECONDS}, secret, algorithm="HS256")


async def post_site_delivery(
    client: httpx.AsyncClient,
    url: str,
    payload: Mapping[str, Any],
    *,
    secret: str,
    identifier: str | None = None,
    now: float | None = None,
) -> Answer:
    """POST one delivery to `url` as Jira does; the add-on's answer."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {delivery_token(secret, now=now)}",
        **webhook_headers(identifier or str(uuid.uuid4()), 0),
    }
    started = time.perf_counter()
    try:
        response = await client.post(url, content=json.dumps(payload).encode(), headers=headers)
    except httpx.TransportError as exc:
        raise AddonUnreachable(f"nothing answers at {url}: {type(exc).__name__}") from None
    code, reason = refusal_of(response) if response.status_code >= 300 else (None, None)
    return Answer("POST", url, response.status_code, time.perf_counter() - started, code, reason)


async def send_oauth(
    *,
    atlassian_url: str,
    site: str,
    event: str,
    secret: str,
    report: Callable[[str], None],
    payload: dict[str, Any] | None = None,
    issue: str | None = None,
    project: str | None = None,
) -> Answer:
    """Find `site` (URL or cloudId) at the fake Atlassian and the webhooks the server registered
    there for `event`, and deliver `event` to their URL once, naming them all as matched."""
    async with http_client() as client:
        try:
            response = await client.get(f"{atlassian_url.rstrip('/')}/_fake/sites")
            sites = response.json()
        except (httpx.HTTPError, ValueError):
            raise SimulatorError(
                f"no fake Atlassian answers at {atlassian_url}; start `addon simulate atlassian`"
            ) from None
        found = next((s for s in sites if site.rstrip("/") in (s["url"], s["cloudId"])), None)
        if found is None:
            known = ", ".join(s["url"] for s in sites) or "none"
            raise SimulatorError(f"the fake Atlassian has no site {site} (it has: {known})")
        hooks = [h for h in found["webhooks"] if event in h["events"]]
        if not hooks:
            raise SimulatorError(
                f"no webhook of {found['url']} is registered for {event}: connect the site to the"
                " add-on first (its /oauth/connect), or name an event it registered"
            )
        body = dict(
            build_payload(
                event, payload, site_url=found["url"], issue=issue, project=project
            ).payload
        )
        body["matchedWebhookIds"] = [h["id"] for h in hooks]
        answer = await post_site_delivery(client, hooks[0]["url"], body, secret=secret)
    report(answer.describe())
    return answer
