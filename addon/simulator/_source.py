"""Admin-webhook deliveries as Jira sends them to a source URL, so that a source can be tried
without a Jira site (`addon simulate source send`).

Jira Cloud signs the raw body with the webhook's secret: `X-Hub-Signature: sha256=<hex>`, the
HMAC-SHA256 of the body bytes, "formatted as method=signature, as defined by WebSub", with the
identifier and flow headers it sends on every webhook
(https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks). The other
two modes carry the secret itself: in a header of the source's choosing (`header-token`), or as
`Authorization: Bearer <secret>`, as a proxy or a Jira Data Center automation adds it. The
signature is computed here, not with the server's code, so that the two are checked against
each other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

import descriptor
from addon.simulator._addon import http_client
from addon.simulator._errors import SimulatorError
from addon.simulator._payloads import EXAMPLE_SITE_URL, build_payload
from addon.simulator._send import Summary, UnknownEvent, post, summarise, unknown_event

__all__ = [
    "DEFAULT_TOKEN_HEADER",
    "MODES",
    "SIGNATURE_HEADER",
    "masked_source_url",
    "send_to_source",
    "source_headers",
]

Report = Callable[[str], None]

SIGNATURE_HEADER = "X-Hub-Signature"
DEFAULT_TOKEN_HEADER = "X-Webhook-Token"
MODES = ("cloud-signature", "header-token", "bearer")
SHOWN_KEY_CHARS = 4


def source_headers(
    body: bytes, *, mode: str, secret: str, header: str | None = None, webhook_id: str
) -> dict[str, str]:
    """The headers a delivery of `body` carries in `mode`, its credential included."""
    if mode == "cloud-signature":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {
            "X-Atlassian-Webhook-Identifier": webhook_id,
            "X-Atlassian-Webhook-Flow": "Primary",
            SIGNATURE_HEADER: f"sha256={digest}",
        }
    if mode == "header-token":
        return {header or DEFAULT_TOKEN_HEADER: secret}
    if mode == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")


def masked_source_url(url: str) -> str:
    """The URL with its source key (a credential: the last path segment) cut short, as the
    server logs it."""
    parts = urlsplit(url)
    head, separator, key = parts.path.rpartition("/")
    path = f"{head}{separator}{key[:SHOWN_KEY_CHARS]}***"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


async def send_to_source(
    *,
    url: str,
    event: str,
    mode: str,
    secret: str,
    report: Report,
    header: str | None = None,
    payload: dict[str, Any] | None = None,
    issue: str | None = None,
    project: str | None = None,
    site_url: str = EXAMPLE_SITE_URL,
) -> Summary:
    """POST `event` to the source at `url`, as a Jira site does; the `${...}` in `url` expanded."""
    if descriptor.lookup(event) is None and payload is None:
        raise UnknownEvent(unknown_event(event))
    built = build_payload(event, payload, site_url=site_url, issue=issue, project=project)
    for note in built.notes:
        report(f"note: {note}")
    body = json.dumps(built.payload, separators=(",", ":"), ensure_ascii=False).encode()
    target = descriptor.expand_for_event(url, event, built.payload)
    headers = source_headers(
        body, mode=mode, secret=secret, header=header, webhook_id=str(uuid.uuid4())
    )
    report(f"{event}: POST {masked_source_url(target)} ({mode})")
    async with http_client(connections=1) as client:
        try:
            request = client.build_request(
                "POST",
                target,
                content=body,
                headers={"Content-Type": "application/json", **headers},
            )
        except httpx.InvalidURL as exc:
            raise SimulatorError(f"--url: {exc}") from None
        started = time.perf_counter()
        outcome = await post(client, request)
    summary = summarise([outcome], time.perf_counter() - started)
    for line in summary.lines():
        report(line)
    return summary
