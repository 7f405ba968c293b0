"""Erasing a forgotten account's name and email from the payloads stored in the delivery log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from addon.store import Db, json_text

__all__ = ["FORGOTTEN", "scrub_deliveries", "scrub_payload"]

FORGOTTEN = "(forgotten)"
_PERSONAL_FIELDS = ("displayName", "emailAddress", "name", "key", "avatarUrls", "timeZone")
_BATCH = 200


def scrub_payload(payload: Any, account_id: str, personal: Iterable[str] = ()) -> tuple[Any, bool]:
    """`payload` with the personal fields of every user object of `account_id` removed, and every
    string equal to one of `personal` (the account's known name and email, as in a changelog's
    `toString`) replaced by "(forgotten)"; and whether anything changed."""
    words = {value for value in personal if value}
    changed = False

    def walk(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, dict):
            own = value.get("accountId") == account_id
            out: dict[str, Any] = {}
            for key, item in value.items():
                if own and key in _PERSONAL_FIELDS:
                    changed = True
                    continue
                out[key] = walk(item)
            return out
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str) and value in words:
            changed = True
            return FORGOTTEN
        return value

    return walk(payload), changed


async def scrub_deliveries(db: Db, account_id: str, personal: Iterable[str] = ()) -> int:
    """Rewrite every stored body naming `account_id` without its name and email; returns how many
    deliveries were rewritten. Walks the log in batches by id."""
    words = tuple(personal)
    needle = account_id.encode("utf-8")
    find = (
        "position(? in body) > 0"
        if db.postgres
        else "instr(body, ?) > 0"  # a BLOB against a BLOB: a byte search
    )
    rewritten = 0
    after = 0
    while True:
        rows = await db.fetch_all(
            f"SELECT id, body FROM deliveries WHERE id > ? AND body IS NOT NULL AND {find}"
            " ORDER BY id LIMIT ?",
            (after, needle, _BATCH),
        )
        if not rows:
            return rewritten
        for row in rows:
            after = int(row["id"])
            try:
                payload = json.loads(bytes(row["body"]))
            except (ValueError, RecursionError):
                continue
            scrubbed, changed = scrub_payload(payload, account_id, words)
            if not changed:
                continue
            body = json_text(scrubbed).encode("utf-8")
            await db.execute(
                "UPDATE deliveries SET body = ?, body_size = ? WHERE id = ?",
                (body, len(body), after),
            )
            rewritten += 1
