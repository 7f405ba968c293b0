"""Realistic jira:issue_updated webhooks, signed ahead of the run, in the files webhooks.lua reads.

Bodies have the shape of Jira Cloud's (user, issue with its fields, changelog) and are 3-6 KB of
compact JSON. Each request gets its own X-Atlassian-Webhook-Identifier, the URL of the default
descriptor's issue-updated webhook expanded with the body's context (issueKey, issueId,
projectKey, projectId), and its own HS256 token with a qsh bound to that URL, signed with the
tenant's shared secret exactly as Jira signs it, valid for an hour (so that it outlives the run).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import descriptor
from addon.auth import encode_hs256, query_string_hash, verify_hs256
from addon.simulator import SimulatedSite

__all__ = ["ISSUE_UPDATED_URL", "RequestPool", "make_bodies", "sign_pool"]

ISSUE_UPDATED_URL = (
    "/webhooks/jira/issue-updated?issueKey=${issue.key}&issueId=${issue.id}"
    "&projectKey=${project.key}&projectId=${project.id}"
)
TOKEN_SECONDS = 3600
SITE = "bench-site.atlassian.net"
PROJECTS = [("PLAT", 10000), ("WEB", 10001), ("OPS", 10002), ("MOB", 10003), ("DATA", 10004)]
STATUSES = [
    ("10000", "To Do", 2, "new"),
    ("3", "In Progress", 4, "indeterminate"),
    ("10001", "Done", 3, "done"),
    ("10002", "In Review", 4, "indeterminate"),
]
WORDS = [
    "the",
    "deploy",
    "pipeline",
    "fails",
    "when",
    "the",
    "cache",
    "is",
    "cold",
    "and",
    "retries",
    "pile",
    "up",
    "so",
    "we",
    "need",
    "a",
    "backoff",
    "with",
    "jitter",
    "plus",
    "a",
    "dashboard",
    "showing",
    "queue",
    "depth",
    "per",
    "tenant",
    "before",
    "the",
    "next",
    "release",
    "train",
    "customers",
    "report",
    "slow",
    "pages",
    "after",
    "login",
    "because",
    "the",
    "session",
    "store",
    "is",
    "remote",
    "and",
    "chatty",
]


@dataclass(frozen=True, slots=True)
class RequestPool:
    """The two files webhooks.lua reads, and what they hold."""

    requests_file: Path
    bodies_file: Path
    count: int
    signed_at: float
    body_sizes: tuple[int, ...]
    scheme: str = "JWT"
    """The Authorization scheme of the tokens (`JWT` for Connect, `Bearer` for Forge)."""
    id_in_body: bool = False
    """Each request's identifier goes into its body (`benchId`), not into a header."""
    headers: str = ""
    """Raw header lines every request carries besides the usual ones."""


def _user(rng: random.Random, n: int) -> dict[str, Any]:
    account = f"5b10a2844c20165700ede{n:03d}"
    avatar = f"https://{SITE}/avatar/{n}"
    return {
        "self": f"https://{SITE}/rest/api/2/user?accountId={account}",
        "accountId": account,
        "avatarUrls": {
            size: f"{avatar}?s={size[:2]}" for size in ("48x48", "24x24", "16x16", "32x32")
        },
        "displayName": f"{rng.choice(['Ada', 'Grace', 'Linus', 'Ken', 'Barbara'])} User{n}",
        "active": True,
        "timeZone": "Europe/Berlin",
        "accountType": "atlassian",
    }


def _body(rng: random.Random, index: int, size: int) -> dict[str, Any]:
    project_key, project_id = PROJECTS[index % len(PROJECTS)]
    number = 100 + index * 7
    issue_id = 20000 + index
    now_ms = 1_760_000_000_000 + index * 61_000
    old, new = rng.sample(STATUSES, 2)
    status_id, status_name, category_id, category_key = new
    stamp = "2025-10-09T12:34:56.789+0200"
    fields: dict[str, Any] = {
        "statuscategorychangedate": stamp,
        "issuetype": {
            "self": f"https://{SITE}/rest/api/2/issuetype/10001",
            "id": "10001",
            "description": "A small, distinct piece of work.",
            "iconUrl": f"https://{SITE}/rest/api/2/universal_avatar/view/type/issuetype/avatar/10318",
            "name": "Task",
            "subtask": False,
            "avatarId": 10318,
            "hierarchyLevel": 0,
        },
        "project": {
            "self": f"https://{SITE}/rest/api/2/project/{project_id}",
            "id": str(project_id),
            "key": project_key,
            "name": f"{project_key.title()} team",
            "projectTypeKey": "software",
            "simplified": False,
        },
        "fixVersions": [],
        "resolution": None,
        "workratio": -1,
        "watches": {
            "self": f"https://{SITE}/rest/api/2/issue/{project_key}-{number}/watchers",
            "watchCount": 1,
            "isWatching": True,
        },
        "created": stamp,
        "priority": {"self": f"https://{SITE}/rest/api/2/priority/3", "name": "Medium", "id": "3"},
        "labels": rng.sample(["backend", "frontend", "customer", "tech-debt", "security"], 2),
        "customfield_10020": [
            {
                "id": 40 + index % 9,
                "name": f"Sprint {40 + index % 9}",
                "state": "active",
                "boardId": 3,
            }
        ],
        "assignee": _user(rng, index % 50),
        "updated": stamp,
        "status": {
            "self": f"https://{SITE}/rest/api/2/status/{status_id}",
            "description": "",
            "name": status_name,
            "id": status_id,
            "statusCategory": {
                "self": f"https://{SITE}/rest/api/2/statuscategory/{category_id}",
                "id": category_id,
                "key": category_key,
                "name": status_name,
            },
        },
        "components": [],
        "description": "",
        "summary": " ".join(rng.sample(WORDS, 8)).capitalize(),
        "subtasks": [],
        "reporter": _user(rng, (index + 7) % 50),
        "progress": {"progress": 0, "total": 0},
        "votes": {
            "self": f"https://{SITE}/rest/api/2/issue/{project_key}-{number}/votes",
            "votes": 0,
            "hasVoted": False,
        },
    }
    body = {
        "timestamp": now_ms,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": _user(rng, index % 50),
        "issue": {
            "id": str(issue_id),
            "self": f"https://{SITE}/rest/api/2/{issue_id}",
            "key": f"{project_key}-{number}",
            "fields": fields,
        },
        "changelog": {
            "id": str(100000 + index),
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": old[0],
                    "fromString": old[1],
                    "to": status_id,
                    "toString": status_name,
                }
            ],
        },
    }
    # Fill the description up to the wanted size with words, as people write them.
    base = len(_compact(body))
    words: list[str] = []
    while base + len(" ".join(words)) < size:
        words.append(rng.choice(WORDS))
    fields["description"] = " ".join(words)
    return body


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def make_bodies(count: int = 256, seed: int = 7) -> list[tuple[bytes, str]]:
    """`count` bodies of 3-6 KB and the target (URL) Jira would post each one to."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        size = 3000 + (index * 3001 // max(1, count - 1)) if count > 1 else 4500
        body = _body(rng, index, min(size, 6000))
        target = descriptor.expand_for_event(ISSUE_UPDATED_URL, "jira:issue_updated", body)
        made.append((_compact(body), target))
    return made


def sign_pool(
    site: SimulatedSite, addon_base_url: str, directory: Path, count: int, *, bodies: int = 256
) -> RequestPool:
    """Write `count` signed requests (and the bodies they use) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    made = make_bodies(bodies)
    bodies_file = directory / "bodies.jsonl"
    bodies_file.write_bytes(b"".join(body + b"\n" for body, _ in made))
    qsh = {target: query_string_hash("POST", target, addon_base_url) for _, target in made}
    now = int(time.time())
    requests_file = directory / "requests.tsv"
    with requests_file.open("w") as out:
        for index in range(count):
            body_index = index % len(made)
            target = made[body_index][1]
            claims = {
                "iss": site.client_key,
                "iat": now,
                "exp": now + TOKEN_SECONDS,
                "qsh": qsh[target],
            }
            token = encode_hs256(claims, site.shared_secret)
            out.write(f"{uuid.uuid4()}\t{body_index}\t{target}\t{token}\n")
    # A signed request must verify the way the server verifies it (catch a broken pool early).
    first = requests_file.open().readline().rstrip("\n").split("\t")
    verify_hs256(first[3], site.shared_secret, leeway=0)
    return RequestPool(
        requests_file, bodies_file, count, float(now), tuple(len(body) for body, _ in made)
    )
