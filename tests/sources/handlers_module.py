"""Handlers for the live-server tests: each event's origin, name and actor, one JSON line per event,
appended to the file named by SOURCES_TEST_EVENTS."""

from __future__ import annotations

import json
import os

from addon.handlers import Event, Handlers

handlers = Handlers()


@handlers.on("*")
async def record(event: Event) -> None:
    line = {
        "delivery_id": event.delivery_id,
        "origin_kind": event.origin.kind,
        "origin": event.origin.key,
        "name": event.name,
        "actor": event.view.actor,
        "issue_key": event.view.issue_key,
        "webhook_id": event.webhook_id,
        "user": event.payload.get("user") if isinstance(event.payload, dict) else None,
    }
    with open(os.environ["SOURCES_TEST_EVENTS"], "a", encoding="utf-8") as file:
        file.write(json.dumps(line) + "\n")
