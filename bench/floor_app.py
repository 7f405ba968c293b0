"""The floor: the least a correct ingest does, to show what any design can reach on this machine.

Raw ASGI on uvicorn (no Starlette, no middleware, no access log), and per webhook only what no
correct ingest may skip: the token fully verified with the add-on's own `verify_symmetric` (HS256
pinned, `exp`/`iat`, the `qsh` against the request as it arrived), the body parsed as a JSON
object, and a row with the add-on's columns committed to SQLite (WAL, `synchronous=NORMAL`) before
the 204, concurrent webhooks sharing one commit run in the event loop's thread (the cheapest way
on one pinned core). Nothing else: no tenant store, no duplicate lookup, no rejection log, no
handlers, no error answers beyond a bare 401/400.

`FLOOR_SCHEMA` picks what the row is written into:

- `none`: nothing; the 204 follows the verification and the parse. Not a design (nothing is
  stored), but the ceiling of every design: what HTTP, the token and the JSON cost alone;
- `append`: the add-on's table with every index dropped but its integer primary key;
- `indexed`: the add-on's own schema (every migration), so the row also goes into each index the
  inspector's queries and the duplicate guard need, with the delivery's search keys.

The gap between the last two is the cost of an indexed, searchable log; the gap between `indexed`
and the add-on is everything else the add-on does. bench/run.py starts it as:

    FLOOR_DATABASE=... FLOOR_SCHEMA=indexed FLOOR_CLIENT_KEY=... FLOOR_SHARED_SECRET=... \\
        python -m uvicorn floor_app:app --app-dir bench --port 8002 --no-access-log
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from typing import Any

from starlette.types import Receive, Scope, Send

from addon.auth import extract_token, verify_symmetric
from addon.errors import Refusal
from addon.incoming import parse_json_object
from addon.ingest import normalise
from addon.store import open_store

BASE_URL = "http://127.0.0.1"  # the qsh ignores the host; bench/_harness.py signs for this base
EVENT = "jira:issue_updated"

_to_json = json.JSONEncoder(ensure_ascii=False).encode
_NO_CONTENT = {"type": "http.response.start", "status": 204, "headers": []}
_EMPTY = {"type": "http.response.body", "body": b""}
_INSERT_KEY = "INSERT INTO delivery_keys (search_key, delivery_id) VALUES (?, ?)"

Pending = tuple[dict[str, Any], tuple[str, ...], "asyncio.Future[None]"]


class Floor:
    def __init__(self, path: str, schema: str, client_key: str, secret: str) -> None:
        self.client_key = client_key
        self.secret = secret
        self.indexed = schema == "indexed"
        self.stores = schema != "none"
        if self.stores:  # the add-on's own migrations, as it runs them at start-up (WAL too)
            asyncio.run(_create_schema(f"sqlite:///{path}"))
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        if self.stores and not self.indexed:  # the same table, with its primary key alone
            indexes = self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' "
                "AND sql IS NOT NULL"
            ).fetchall()
            for (name,) in indexes:
                self.conn.execute(f'DROP INDEX "{name}"')
        self.pending: list[Pending] = []
        self.insert = ""
        self.next_id = 1  # one writer on a fresh file

    async def secret_for(self, client_key: str) -> str | None:
        return self.secret if client_key == self.client_key else None

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not self.insert:
            columns = ("id", *batch[0][0])
            marks = ", ".join("?" for _ in columns)
            self.insert = f"INSERT INTO deliveries ({', '.join(columns)}) VALUES ({marks})"
        first, self.next_id = self.next_id, self.next_id + len(batch)
        rows = [
            (delivery_id, *row.values()) for delivery_id, (row, _, _) in enumerate(batch, first)
        ]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(self.insert, rows)
            if self.indexed:
                self.conn.executemany(
                    _INSERT_KEY,
                    [
                        (key, delivery_id)
                        for delivery_id, (_, keys, _) in enumerate(batch, first)
                        for key in keys
                    ],
                )
            self.conn.execute("COMMIT")
        except BaseException as exc:
            self.conn.execute("ROLLBACK")
            for _, _, future in batch:
                future.set_exception(exc)
            return
        for _, _, future in batch:
            future.set_result(None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] != "POST":  # /ready
            await send(_NO_CONTENT)
            await send(_EMPTY)
            return
        received_at = time.time()
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        target = scope["raw_path"].decode() + "?" + scope["query_string"].decode()
        try:
            token = extract_token(headers.pop("authorization", None), None)
            verified = await verify_symmetric(
                token,
                method="POST",
                url=target,
                base_url=BASE_URL,
                secret_for=self.secret_for,
                leeway=30,
            )
            payload = parse_json_object(body, what="webhook body")
        except Refusal as refusal:
            await send({"type": "http.response.start", "status": refusal.status, "headers": []})
            await send(_EMPTY)
            return
        view = normalise(EVENT, payload)
        row = {  # what the add-on's writer stores of an accepted delivery
            "received_at": received_at,
            "origin_kind": "connect",
            "origin": verified.client_key,
            "event": EVENT,
            "webhook_id": headers.get("x-atlassian-webhook-identifier"),
            "status": "accepted",
            "method": "POST",
            "path": target,
            "context": "{}",
            "token": _to_json({"header": verified.header, "claims": verified.claims}),
            "canonical_request": verified.canonical_request,
            "qsh_expected": verified.qsh_expected,
            "headers": _to_json(headers),
            "body": body,
            "body_size": len(body),
            "resource": view.resource,
            "action": view.action,
            "issue_key": view.issue_key,
            "project_key": view.project_key,
            "sprint_id": view.sprint_id,
            "actor": view.actor,
        }
        if not self.stores:
            await send(_NO_CONTENT)
            await send(_EMPTY)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append((row, view.search_keys(), future))
        await future
        await send(_NO_CONTENT)
        await send(_EMPTY)


async def _create_schema(database_url: str) -> None:
    store = await open_store(database_url, encrypt_existing=False)
    await store.db.disconnect()


app = Floor(
    os.environ["FLOOR_DATABASE"],
    os.environ.get("FLOOR_SCHEMA", "append"),
    os.environ["FLOOR_CLIENT_KEY"],
    os.environ["FLOOR_SHARED_SECRET"],
)
