"""Jira REST calls for the sync, through whichever door's client the caller gives.

`ClientFactory(site)` opens an `httpx.AsyncClient` whose base URL is the site's REST root (the
Connect base URL, or `https://api.atlassian.com/ex/jira/{cloudId}` for OAuth and Forge) and whose
auth acts for that door; the sync never knows which door it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from addon.sync._errors import JiraRefused, JiraUnavailable

__all__ = ["ClientFactory", "JiraCalls", "adf", "retry_after"]

ClientFactory = Callable[[str], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]

MAX_RETRY_AFTER = 3600.0


def retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date), bounded."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(when - now, 0.0), MAX_RETRY_AFTER)


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per blank-line block."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    content: list[dict[str, Any]] = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        nodes: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            if index:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(body, Mapping):
        messages = [str(m) for m in body.get("errorMessages") or ()]
        errors = body.get("errors")
        if isinstance(errors, Mapping):
            messages += [f"{k}: {v}" for k, v in errors.items()]
        if messages:
            return "; ".join(messages)[:500]
    return response.reason_phrase or "no detail"


class JiraCalls:
    """One site's calls; every failure becomes `JiraRefused` (4xx) or `JiraUnavailable`."""

    def __init__(self, client: httpx.AsyncClient, *, now: Callable[[], float]) -> None:
        self._client = client
        self._now = now

    async def call(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        write = method != "GET"
        try:
            response = await self._client.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise JiraUnavailable(
                f"{method} {path}: no answer from Jira ({type(exc).__name__})", unclear=write
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise JiraUnavailable(
                f"{method} {path}: Jira answered {response.status_code}",
                retry_after=retry_after(response.headers.get("retry-after"), now=self._now()),
                unclear=write and response.status_code >= 500,
            )
        if response.status_code >= 400:
            raise JiraRefused(response.status_code, f"{method} {path}: {_detail(response)}")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            # A write Jira answered 2xx was made, whatever became of its answer: unclear.
            raise JiraUnavailable(
                f"{method} {path}: Jira's answer is not JSON", unclear=write
            ) from None
