"""The million-row delivery log, written straight into the database (timed by _million_pages).

The rows look like what a year of a busy Jira site leaves behind: several tenants of very
different sizes, the event mix of a software team (mostly issue updates), a few duplicates,
ignored and rejected deliveries, 3-6 KB bodies, and the search keys (issue key, project key,
sprint, actor, webhook identifier) in delivery_keys, as the writer stores them. Writing them takes
about a minute (executemany into SQLite, COPY into PostgreSQL) instead of hours through HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

__all__ = ["COLUMNS", "Generated", "generate_postgres", "generate_sqlite"]

CHUNK = 20_000
SPAN_SECONDS = 14 * 86_400  # inside the default 30-day retention, so nothing is pruned
COLUMNS = (
    "id",
    "received_at",
    "origin_kind",
    "origin",
    "event",
    "webhook_id",
    "retry",
    "flow",
    "status",
    "reason",
    "error_code",
    "method",
    "path",
    "context",
    "token",
    "canonical_request",
    "qsh_expected",
    "headers",
    "body",
    "body_size",
    "resource",
    "action",
    "issue_key",
    "project_key",
    "sprint_id",
    "actor",
    "handler_state",
    "next_attempt_at",
    "duplicate_of",
)

# (event, resource, action, weight, carries an issue, carries a sprint)
EVENTS = [
    ("jira:issue_updated", "issue", "updated", 520, True, False),
    ("jira:issue_created", "issue", "created", 110, True, False),
    ("comment_created", "comment", "created", 120, True, False),
    ("comment_updated", "comment", "updated", 30, True, False),
    ("comment_deleted", "comment", "deleted", 5, True, False),
    ("worklog_created", "worklog", "created", 60, True, False),
    ("worklog_updated", "worklog", "updated", 20, True, False),
    ("jira:issue_deleted", "issue", "deleted", 10, True, False),
    ("attachment_created", "attachment", "created", 40, True, False),
    ("issuelink_created", "issuelink", "created", 30, False, False),
    ("sprint_started", "sprint", "started", 3, False, True),
    ("sprint_closed", "sprint", "closed", 3, False, True),
    ("sprint_updated", "sprint", "updated", 6, False, True),
    ("board_updated", "board", "updated", 2, False, False),
    ("jira:version_released", "version", "released", 2, False, False),
    ("project_updated", "project", "updated", 1, False, False),
    ("user_updated", "user", "updated", 1, False, False),
]
TENANT_WEIGHTS = [50, 20, 10, 8, 5, 4, 2, 1]
PROJECTS = [f"P{n:02d}" for n in range(40)] + ["PLAT", "WEB", "OPS", "MOB", "DATA"]
REJECTIONS = [
    ("invalid_signature", "the signature does not match the tenant's shared secret"),
    ("token_expired", "the token expired 45 s ago (leeway 30 s)"),
    ("unknown_tenant", "no installed tenant with clientKey 'gone'; is the app installed there?"),
    ("qsh_mismatch", "qsh does not match: expected canonical request POST&/webhooks/jira/x&"),
]


@dataclass(frozen=True, slots=True)
class Generated:
    rows: int
    keys: int
    seconds: float
    tenants: tuple[str, ...]
    sample_issue_key: str
    sample_actor: str
    sample_webhook_id: str


def _rows(
    count: int, tenants: list[str], bodies: list[bytes], seed: int = 11
) -> Iterator[tuple[tuple[Any, ...], list[tuple[str, int]]]]:
    """(row, search keys) for ids 1..count, oldest first."""
    rng = random.Random(seed)
    start = time.time() - SPAN_SECONDS
    step = SPAN_SECONDS / count
    events = [e for e in EVENTS for _ in range(e[3])]
    tenant_pick = [t for t, w in zip(tenants, TENANT_WEIGHTS, strict=True) for _ in range(w)]
    token_header = {"alg": "HS256", "typ": "JWT"}
    recent_accepted: list[tuple[int, str, str]] = []
    for delivery_id in range(1, count + 1):
        received = start + delivery_id * step
        event, resource, action, _, has_issue, has_sprint = rng.choice(events)
        origin = rng.choice(tenant_pick)
        project = rng.choice(PROJECTS)
        issue_number = rng.randint(1, 30_000)
        issue_key = f"{project}-{issue_number}" if has_issue else None
        sprint = (
            str(rng.randint(1, 400)) if has_sprint or (has_issue and rng.random() < 0.3) else None
        )
        actor = f"5b10a2844c20165700ede{rng.randint(0, 1999):04d}"
        webhook_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        roll = rng.random()
        status, reason, error_code, duplicate_of = "accepted", None, None, None
        if roll < 0.02 and recent_accepted:
            status = "duplicate"
            duplicate_of, origin, webhook_id = rng.choice(recent_accepted)
        elif roll < 0.035:
            status = "rejected"
            error_code, reason = rng.choice(REJECTIONS)
        elif roll < 0.04:
            status, reason = "ignored", f"tenant {origin} is disabled"
        elif len(recent_accepted) < 1000:
            recent_accepted.append((delivery_id, origin, webhook_id))
        else:
            recent_accepted[delivery_id % 1000] = (delivery_id, origin, webhook_id)
        slug = event.split(":")[-1].replace("_", "-")
        context: dict[str, str] = {}
        if issue_key:
            context = {
                "issue.key": issue_key,
                "issue.id": str(10_000 + issue_number),
                "project.key": project,
                "project.id": str(10_000 + PROJECTS.index(project)),
            }
        elif sprint:
            context = {"sprint.id": sprint, "board.id": str(rng.randint(1, 40))}
        query = "&".join(
            f"{k.split('.')[0]}{k.split('.')[1].title()}={v}" for k, v in context.items()
        )
        path = f"/webhooks/jira/{slug}" + (f"?{query}" if query else "")
        canonical = f"POST&/webhooks/jira/{slug}&{query}"
        qsh = hashlib.sha256(canonical.encode()).hexdigest()
        body = bodies[delivery_id % len(bodies)]
        headers = {
            "host": "addon.example.com",
            "user-agent": "Atlassian Webhook HTTP Client",
            "content-type": "application/json; charset=UTF-8",
            "accept": "*/*",
            "x-atlassian-webhook-flow": "Primary",
            "content-length": str(len(body)),
            "x-atlassian-webhook-identifier": webhook_id,
        }
        iat = int(received)
        token = {
            "header": token_header,
            "claims": {"iss": origin, "iat": iat, "exp": iat + 180, "qsh": qsh},
        }
        rejected = status == "rejected"
        row = (
            delivery_id,
            received,
            "connect",
            origin,
            event,
            webhook_id,
            1 if status == "duplicate" else 0,
            "Primary",
            status,
            reason,
            error_code,
            "POST",
            path,
            json.dumps(context),
            json.dumps(token),
            canonical,
            qsh,
            json.dumps(headers),
            body[: 64 * 1024],
            len(body),
            None if rejected else resource,
            None if rejected else action,
            None if rejected else issue_key,
            None if rejected else (project if issue_key else None),
            None if rejected else sprint,
            None if rejected else actor,
            "none",
            None,
            duplicate_of,
        )
        keys: list[tuple[str, int]] = []
        if not rejected:
            # An accepted delivery is found by its identifier through deliveries_one_accepted.
            identifier = None if status == "accepted" else webhook_id
            for key in dict.fromkeys(
                (issue_key, project if issue_key else None, sprint, actor, identifier)
            ):
                if key:
                    keys.append((key, delivery_id))
        yield row, keys


def _tenant_keys() -> list[str]:
    rng = random.Random(5)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in TENANT_WEIGHTS]


def generate_sqlite(path: str, count: int, bodies: list[bytes]) -> Generated:
    """Fill the (migrated, empty) SQLite file at `path` with `count` deliveries."""
    began = time.perf_counter()
    tenants = _tenant_keys()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # a bulk load; WAL is switched back on below
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    insert = (
        f"INSERT INTO deliveries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    )
    all_keys: list[tuple[str, int]] = []
    chunk: list[tuple[Any, ...]] = []
    samples: dict[str, str] = {}
    conn.execute("BEGIN")
    for row, keys in _rows(count, tenants, bodies):
        chunk.append(row)
        all_keys.extend(keys)
        if row[0] == count // 2:
            samples = {"issue": row[22] or "", "actor": row[25] or "", "webhook": row[5]}
        if len(chunk) >= CHUNK:
            conn.executemany(insert, chunk)
            chunk.clear()
    if chunk:
        conn.executemany(insert, chunk)
    # In key order, the primary key's B-tree is appended to instead of split at random.
    all_keys.sort()
    conn.executemany("INSERT INTO delivery_keys (search_key, delivery_id) VALUES (?, ?)", all_keys)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return Generated(
        count,
        len(all_keys),
        time.perf_counter() - began,
        tuple(tenants),
        samples["issue"],
        samples["actor"],
        samples["webhook"],
    )


async def generate_postgres(url: str, count: int, bodies: list[bytes]) -> Generated:
    """Fill the (migrated, empty) PostgreSQL database at `url` with COPY."""
    began = time.perf_counter()
    tenants = _tenant_keys()
    conn = await asyncpg.connect(url)
    samples: dict[str, str] = {}
    all_keys: list[tuple[str, int]] = []
    try:
        chunk: list[tuple[Any, ...]] = []
        for row, keys in _rows(count, tenants, bodies):
            chunk.append(row)
            all_keys.extend(keys)
            if row[0] == count // 2:
                samples = {"issue": row[22] or "", "actor": row[25] or "", "webhook": row[5]}
            if len(chunk) >= CHUNK:
                await conn.copy_records_to_table("deliveries", records=chunk, columns=COLUMNS)
                chunk.clear()
        if chunk:
            await conn.copy_records_to_table("deliveries", records=chunk, columns=COLUMNS)
        for start in range(0, len(all_keys), 200_000):
            await conn.copy_records_to_table(
                "delivery_keys",
                records=all_keys[start : start + 200_000],
                columns=("search_key", "delivery_id"),
            )
        await conn.execute("SELECT setval(pg_get_serial_sequence('deliveries', 'id'), $1)", count)
        # Autovacuum would, soon after such a load: statistics for the planner, and the visibility
        # map that lets index-only scans skip the table (without it, q=P0* 42 ms p95, with it 10).
        await conn.execute("VACUUM ANALYZE deliveries")
        await conn.execute("VACUUM ANALYZE delivery_keys")
    finally:
        await conn.close()
    return Generated(
        count,
        len(all_keys),
        time.perf_counter() - began,
        tuple(tenants),
        samples["issue"],
        samples["actor"],
        samples["webhook"],
    )


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]
