"""The inspector's list query timed over the million-row log: DeliveryReads.page() and HTTP."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from addon.store import DeliveryFilter, open_store
from bench._million import Generated

__all__ = ["PageTiming", "filters", "time_http_pages", "time_pages"]


@dataclass(frozen=True, slots=True)
class PageTiming:
    name: str
    runs: int
    rows: int
    p50_ms: float
    p95_ms: float
    max_ms: float


def filters(generated: Generated) -> list[tuple[str, DeliveryFilter, dict[str, str]]]:
    """The list queries an inspector user makes: (name, store filter, inspector API query)."""
    big, small = generated.tenants[0], generated.tenants[-1]
    issue = generated.sample_issue_key
    prefix = issue.split("-")[0] + "-12"
    return [
        ("first page", DeliveryFilter(), {}),
        (
            "event=jira:issue_updated",
            DeliveryFilter(event="jira:issue_updated"),
            {"event": "jira:issue_updated"},
        ),
        (
            "event=sprint_closed (rare)",
            DeliveryFilter(event="sprint_closed"),
            {"event": "sprint_closed"},
        ),
        ("status=rejected", DeliveryFilter(status="rejected"), {"status": "rejected"}),
        ("status=duplicate", DeliveryFilter(status="duplicate"), {"status": "duplicate"}),
        ("origin=largest tenant", DeliveryFilter(origin=big), {"client_key": big}),
        ("origin=smallest tenant", DeliveryFilter(origin=small), {"client_key": small}),
        (f"q={issue} (exact issue key)", DeliveryFilter(q=issue), {"q": issue}),
        (
            "q=<actor accountId> (exact)",
            DeliveryFilter(q=generated.sample_actor),
            {"q": generated.sample_actor},
        ),
        (
            "q=<webhook identifier> (exact)",
            DeliveryFilter(q=generated.sample_webhook_id),
            {"q": generated.sample_webhook_id},
        ),
        (f"q={prefix}* (prefix)", DeliveryFilter(q=prefix + "*"), {"q": prefix + "*"}),
        ("q=P0* (prefix, broad)", DeliveryFilter(q="P0*"), {"q": "P0*"}),
        ("q=ZZZ* (prefix, no match)", DeliveryFilter(q="ZZZ*"), {"q": "ZZZ*"}),
        (
            f"event+origin+q={prefix}*",
            DeliveryFilter(event="jira:issue_updated", origin=big, q=prefix + "*"),
            {"event": "jira:issue_updated", "client_key": big, "q": prefix + "*"},
        ),
        (
            "status=rejected+origin=smallest",
            DeliveryFilter(status="rejected", origin=small),
            {"status": "rejected", "client_key": small},
        ),
    ]


async def _timed(runs: int, call: Callable[[], Awaitable[int]]) -> tuple[list[float], int]:
    await call()  # a first run warms the caches, as any inspector user's second click finds them
    times, rows = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        rows = await call()
        times.append((time.perf_counter() - began) * 1000)
    return times, rows


def _summary(name: str, times: list[float], rows: int) -> PageTiming:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return PageTiming(name, len(times), rows, statistics.median(ordered), p95, ordered[-1])


async def time_pages(database_url: str, generated: Generated, runs: int = 50) -> list[PageTiming]:
    """p50/p95/max of DeliveryReads.page(filter, limit=50), and of the page after it."""
    store = await open_store(database_url, encrypt_existing=False)
    results = []
    try:
        for name, where, _ in filters(generated):
            first = await store.deliveries.page(where, limit=50)

            async def call(where: DeliveryFilter = where) -> int:
                return len(await store.deliveries.page(where, limit=50))

            times, rows = await _timed(runs, call)
            results.append(_summary(name, times, rows))
            if len(first) == 50 and name in (
                "first page",
                "event=sprint_closed (rare)",
                "status=rejected",
            ):

                async def after(where: DeliveryFilter = where, before: int = first[-1].id) -> int:
                    return len(await store.deliveries.page(where, limit=50, before_id=before))

                times, rows = await _timed(runs, after)
                results.append(_summary(name + ", page 2", times, rows))
    finally:
        await store.db.disconnect()
    return results


async def time_http_pages(
    base_url: str, auth: tuple[str, str], generated: Generated, runs: int = 50
) -> list[PageTiming]:
    """The same through the inspector's HTTP API (GET /inspector/api/deliveries)."""
    import httpx

    results = []
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=30) as client:
        for name, _, query in filters(generated):

            async def call(query: dict[str, str] = query) -> int:
                response = await client.get(
                    "/inspector/api/deliveries", params={**query, "limit": "50"}
                )
                response.raise_for_status()
                return len(response.json()["deliveries"])

            times, rows = await _timed(runs, call)
            results.append(_summary(name, times, rows))
    return results
