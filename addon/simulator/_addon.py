"""The add-on as the simulated site sees it: its descriptor, and its answers to signed calls."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

import descriptor
from addon.simulator._errors import AddonUnreachable, SimulatorError
from addon.simulator._state import normalise_addon_url

__all__ = [
    "CONNECT_VERSION",
    "DEFAULT_ADDON_URL",
    "AddonDescriptor",
    "Answer",
    "answer_of",
    "fetch_descriptor",
    "http_client",
    "one_line",
    "refusal_of",
    "signed_post",
    "signed_request",
    "unreachable",
]

DEFAULT_ADDON_URL = "http://127.0.0.1:8000"
CONNECT_VERSION = "1001.0.0-SNAPSHOT"
TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class AddonDescriptor:
    """What the simulator needs of an add-on's descriptor, fetched from where the add-on runs.

    `addon_url` is where requests go; `base_url` (the descriptor's baseUrl) is what tokens are
    for (`aud`) and what the qsh paths are relative to.
    """

    addon_url: str
    key: str
    base_url: str
    lifecycle: Mapping[str, str]
    webhooks: tuple[descriptor.WebhookModule, ...]

    def url_for(self, relative: str) -> str:
        """Where Jira would send a request for a descriptor URL (relative to the add-on)."""
        if relative.startswith(("http://", "https://")):
            return relative
        return self.addon_url + ("" if relative.startswith("/") else "/") + relative

    def events(self) -> list[str]:
        """The events the descriptor subscribes to, in its order, once each."""
        return list(dict.fromkeys(module.event for module in self.webhooks))


@dataclass(frozen=True, slots=True)
class Answer:
    """The add-on's answer to one call: status, and its JSON refusal if it refused."""

    method: str
    url: str
    status: int
    seconds: float
    code: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        """`POST http://.../installed -> 204 (12 ms)`, with the refusal when there is one."""
        text = f"{self.method} {self.url} -> {self.status} ({self.seconds * 1000:.0f} ms)"
        if self.code or self.reason:
            text += f": {self.code or 'error'}: {self.reason or ''}".rstrip(": ")
        return text


def http_client(*, connections: int = 10) -> httpx.AsyncClient:
    """A client for talking to the add-on: no proxies from the environment, no redirects."""
    return httpx.AsyncClient(
        timeout=TIMEOUT,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def unreachable(addon_url: str, exc: httpx.TransportError) -> AddonUnreachable:
    if isinstance(exc, httpx.TimeoutException):
        why = f"it did not answer within {TIMEOUT:g} s"
    else:
        why = one_line(str(exc)) or type(exc).__name__
    return AddonUnreachable(
        f"the add-on is not reachable at {addon_url} ({why}); is `addon serve` running there?"
        " (--addon URL names another address)"
    )


async def fetch_descriptor(client: httpx.AsyncClient, addon_url: str) -> AddonDescriptor:
    """GET <addon_url>/atlassian-connect.json and read it; SimulatorError says what is wrong."""
    addon_url = normalise_addon_url(addon_url)
    url = f"{addon_url}/atlassian-connect.json"
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise unreachable(addon_url, exc) from None
    if response.status_code != 200:
        raise SimulatorError(
            f"GET {url} answered {response.status_code}, not a descriptor;"
            " is --addon the add-on's base URL?"
        )
    try:
        document = response.json()
    except ValueError:
        raise SimulatorError(f"GET {url} did not answer JSON; is that the add-on?") from None
    if not isinstance(document, dict):
        raise SimulatorError(f"{url} is not a descriptor (not a JSON object)")
    key, base_url = document.get("key"), document.get("baseUrl")
    if not isinstance(key, str) or not key or not isinstance(base_url, str) or not base_url:
        raise SimulatorError(f"{url} has no key or baseUrl; is that an Atlassian Connect add-on?")
    try:
        webhooks = descriptor.parse_webhooks(document)
    except descriptor.DescriptorError as exc:
        raise SimulatorError(f"{url}: {exc}") from None
    return AddonDescriptor(
        addon_url=addon_url,
        key=key,
        base_url=base_url.rstrip("/"),
        lifecycle=descriptor.lifecycle_paths(document),
        webhooks=webhooks,
    )


def signed_request(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    token_for: Callable[[str], str],
    headers: Mapping[str, str] | None = None,
) -> httpx.Request:
    """A POST as Jira sends it, its token bound to the request target exactly as it goes out."""
    request = client.build_request(
        "POST",
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "Atlassian-Connect-Version": CONNECT_VERSION,
            **(headers or {}),
        },
    )
    request.headers["Authorization"] = f"JWT {token_for(request.url.raw_path.decode('ascii'))}"
    return request


async def signed_post(
    client: httpx.AsyncClient,
    addon: AddonDescriptor,
    url: str,
    payload: Mapping[str, Any],
    token_for: Callable[[str], str],
) -> Answer:
    """POST a lifecycle payload; AddonUnreachable if the add-on cannot be reached."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    request = signed_request(client, url, body, token_for)
    started = time.perf_counter()
    try:
        response = await client.send(request)
    except httpx.TransportError as exc:
        raise unreachable(addon.addon_url, exc) from None
    return answer_of(request, response, time.perf_counter() - started)


def answer_of(request: httpx.Request, response: httpx.Response, seconds: float) -> Answer:
    code = reason = None
    if response.status_code >= 300:
        code, reason = refusal_of(response)
    return Answer(request.method, str(request.url), response.status_code, seconds, code, reason)


def refusal_of(response: httpx.Response) -> tuple[str | None, str | None]:
    """The add-on's `{"error": code, "reason": text}`, or the start of whatever it said."""
    try:
        document = response.json()
    except ValueError:
        text = one_line(response.text)[:200]
        return None, text or None
    if isinstance(document, dict):
        code, reason = document.get("error"), document.get("reason")
        return (
            code if isinstance(code, str) else None,
            one_line(reason) if isinstance(reason, str) else None,
        )
    return None, one_line(json.dumps(document))[:200]
