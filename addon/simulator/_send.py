"""Webhook deliveries as Jira sends them: the descriptor's URL expanded from the body with the
same descriptor/ code the server matches it with, an HS256 token bound to that exact URL, Jira's
headers, optional retries of the same delivery, many at once, and a summary at the end."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

import descriptor
from addon.simulator._addon import (
    AddonDescriptor,
    fetch_descriptor,
    http_client,
    one_line,
    refusal_of,
    signed_request,
)
from addon.simulator._errors import SimulatorError
from addon.simulator._install import require_installation
from addon.simulator._payloads import build_payload
from addon.simulator._site import SimulatedSite
from addon.simulator._state import load_state

__all__ = [
    "Outcome",
    "Progress",
    "SendOptions",
    "Summary",
    "Target",
    "UnknownEvent",
    "delivery_targets",
    "percentile",
    "post",
    "render_bar",
    "send",
    "send_deliveries",
    "summarise",
    "unknown_event",
    "webhook_headers",
]

Report = Callable[[str], None]

PROGRESS_THRESHOLD = 20


class UnknownEvent(SimulatorError):
    """An event name the catalogue does not know."""


@dataclass(frozen=True, slots=True)
class SendOptions:
    repeat: int = 1
    retry: bool = False
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.repeat < 1 or self.concurrency < 1:
            raise ValueError("repeat and concurrency must be at least 1")


@dataclass(frozen=True, slots=True)
class Target:
    """Where one webhook module of the descriptor receives this event's body."""

    event: str
    template: str
    url: str
    exclude_body: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: its status (None if it got no answer), how long it took, and why it failed."""

    status: int | None
    seconds: float
    retry: int = 0
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    retries: int
    seconds: float
    statuses: dict[str, int]
    reasons: dict[str, str]
    p50: float
    p95: float
    slowest: float

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    def lines(self) -> list[str]:
        rate = self.requests / self.seconds if self.seconds > 0 else 0.0
        counts = ", ".join(f"{status} x{n}" for status, n in sorted(self.statuses.items()))
        retries = f" ({self.retries} of them retries)" if self.retries else ""
        lines = [
            f"{self.requests} request(s){retries} in {self.seconds:.2f} s ({rate:.1f}/s): {counts}",
            f"latency p50 {self.p50 * 1000:.1f} ms, p95 {self.p95 * 1000:.1f} ms,"
            f" max {self.slowest * 1000:.1f} ms",
        ]
        lines += [f"{status}: {reason}" for status, reason in sorted(self.reasons.items())]
        return lines


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0..1) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarise(outcomes: Sequence[Outcome], seconds: float) -> Summary:
    statuses: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    for outcome in outcomes:
        status = "error" if outcome.status is None else str(outcome.status)
        statuses[status] += 1
        if outcome.reason and not outcome.ok:
            reasons.setdefault(status, outcome.reason)
    latencies = [outcome.seconds for outcome in outcomes]
    return Summary(
        requests=len(outcomes),
        retries=sum(1 for outcome in outcomes if outcome.retry),
        seconds=seconds,
        statuses=dict(statuses),
        reasons=reasons,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        slowest=max(latencies, default=0.0),
    )


def render_bar(done: int, total: int, width: int = 30) -> str:
    """`[#########.....] 60/100  60%`."""
    total = max(total, 1)
    filled = min(width, width * done // total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {100 * done // total:3d}%"


class Progress:
    """A one-line progress bar redrawn with '\\r' on `stream`; silent unless `enabled`."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool, width: int = 30) -> None:
        self.total = total
        self.done = 0
        self._stream = stream
        self._enabled = enabled
        self._width = width
        self._shown = ""

    @classmethod
    def for_stream(cls, total: int, stream: TextIO) -> Progress:
        """Shown for long runs on a terminal only."""
        enabled = total >= PROGRESS_THRESHOLD and stream.isatty()
        return cls(total, stream, enabled=enabled)

    def advance(self) -> None:
        self.done += 1
        if not self._enabled:
            return
        bar = render_bar(self.done, self.total, self._width)
        if bar != self._shown:
            self._stream.write("\r" + bar)
            self._stream.flush()
            self._shown = bar

    def finish(self) -> None:
        if self._enabled and self._shown:
            self._stream.write("\r" + " " * len(self._shown) + "\r")
            self._stream.flush()


def webhook_headers(webhook_id: str, retry: int) -> dict[str, str]:
    """Jira's delivery headers; X-Atlassian-Webhook-Retry only on a retry."""
    headers = {
        "X-Atlassian-Webhook-Identifier": webhook_id,
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    if retry:
        headers["X-Atlassian-Webhook-Retry"] = str(retry)
    return headers


def delivery_targets(addon: AddonDescriptor, event: str, payload: Any) -> list[Target]:
    """One target per webhook module subscribed to `event`, its URL expanded from `payload`."""
    return [
        Target(
            event=event,
            template=module.url,
            url=addon.url_for(descriptor.expand_for_event(module.url, event, payload)),
            exclude_body=module.exclude_body,
        )
        for module in addon.webhooks
        if module.event == event
    ]


async def post(client: httpx.AsyncClient, request: httpx.Request, retry: int = 0) -> Outcome:
    """Send one delivery; its outcome, whatever happens."""
    started = time.perf_counter()
    try:
        response = await client.send(request)
    except httpx.TransportError as exc:
        failure = f"{type(exc).__name__}: {one_line(str(exc))}".rstrip(": ")
        return Outcome(None, time.perf_counter() - started, retry, failure)
    seconds = time.perf_counter() - started
    if response.status_code < 300:
        return Outcome(response.status_code, seconds, retry)
    code, text = refusal_of(response)
    reason = ": ".join(part for part in (code, text) if part) or None
    return Outcome(response.status_code, seconds, retry, reason)


async def send_deliveries(
    client: httpx.AsyncClient,
    targets: Sequence[Target],
    body: bytes,
    *,
    site: SimulatedSite,
    addon_base_url: str,
    options: SendOptions,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Deliver `body` `options.repeat` times to each target, `options.concurrency` at a time.

    Each delivery has its own identifier; with `options.retry` it is sent again, after its
    first answer, with the same identifier and `X-Atlassian-Webhook-Retry: 1`. Every request
    carries a fresh token bound to its URL.
    """

    def token_for(target: str) -> str:
        return site.token(addon_base_url=addon_base_url, target=target)

    jobs: Iterator[Target] = (target for _ in range(options.repeat) for target in targets)
    outcomes: list[Outcome] = []

    async def deliver(target: Target) -> None:
        webhook_id = str(uuid.uuid4())
        content = b"" if target.exclude_body else body
        for retry in (0, 1) if options.retry else (0,):
            request = signed_request(
                client, target.url, content, token_for, webhook_headers(webhook_id, retry)
            )
            outcomes.append(await post(client, request, retry))
            if progress is not None:
                progress.advance()

    async def worker() -> None:
        for target in jobs:
            await deliver(target)

    workers = min(options.concurrency, options.repeat * len(targets))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return outcomes


async def send(
    *,
    state_path: Path,
    addon_url: str | None,
    event: str,
    report: Report,
    payload: dict[str, Any] | None = None,
    issue: str | None = None,
    project: str | None = None,
    options: SendOptions = SendOptions(),
    progress_stream: TextIO | None = None,
) -> Summary:
    """Send `event` to the installed add-on at `addon_url` (None: the only one installed)."""
    if descriptor.lookup(event) is None and payload is None:
        raise UnknownEvent(unknown_event(event))
    state, installation = require_installation(load_state(state_path), addon_url, state_path)
    assert installation.shared_secret is not None
    site = state.site.site(installation.shared_secret)
    async with http_client(connections=options.concurrency) as client:
        addon = await fetch_descriptor(client, installation.addon_url)
        if addon.key != installation.addon_key:
            raise SimulatorError(
                f"the add-on at {addon.addon_url} is now {addon.key!r}, but the site installed"
                f" {installation.addon_key!r}; run: addon simulate install"
                f" --addon {addon.addon_url}"
            )
        built = build_payload(event, payload, site_url=site.base_url, issue=issue, project=project)
        for note in built.notes:
            report(f"note: {note}")
        targets = delivery_targets(addon, event, built.payload)
        if not targets:
            raise SimulatorError(_not_subscribed(event, addon))
        for target in targets:
            report(f"{event}: POST {target.url}")
        body = json.dumps(built.payload, separators=(",", ":"), ensure_ascii=False).encode()
        total = options.repeat * len(targets) * (2 if options.retry else 1)
        progress = Progress.for_stream(total, progress_stream or sys.stderr)
        started = time.perf_counter()
        try:
            outcomes = await send_deliveries(
                client,
                targets,
                body,
                site=site,
                addon_base_url=addon.base_url,
                options=options,
                progress=progress,
            )
        finally:
            progress.finish()
    summary = summarise(outcomes, time.perf_counter() - started)
    for line in summary.lines():
        report(line)
    return summary


def unknown_event(event: str) -> str:
    """Why `event` is refused, with the closest known names."""
    matches = descriptor.closest(event)
    if matches:
        return f"unknown event {event!r}; did you mean {', '.join(matches)}?"
    return f"unknown event {event!r}; Jira's events look like jira:issue_updated or comment_created"


def _not_subscribed(event: str, addon: AddonDescriptor) -> str:
    subscribed = addon.events()
    listing = ", ".join(subscribed) if subscribed else "none"
    return (
        f"the descriptor of {addon.key} does not subscribe to {event}; it subscribes to: {listing}"
    )
