"""A handlers module for reliability tests: records every handler run to a file.

Load it with ``ADDON_HANDLERS=tests.reliability.handlers_probe:handlers``.

``PROBE_LOG`` names the file; each run appends two lines (one ``write`` each, O_APPEND, so lines
from several processes never interleave): ``start <delivery_id> <pid> <time> <webhook_id>`` before
the handler's work and ``end ...`` after it. ``PROBE_SLEEP`` (seconds, default 0) is the work;
a delivery whose JSON body has a number ``probe_sleep`` sleeps that long instead.
"""

from __future__ import annotations

import asyncio
import os
import time

from addon.handlers import Event, Handlers

__all__ = ["handlers"]

handlers = Handlers()


def _record(kind: str, event: Event) -> None:
    path = os.environ.get("PROBE_LOG")
    if not path:
        return
    line = f"{kind} {event.delivery_id} {os.getpid()} {time.time():.6f} {event.webhook_id or '-'}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@handlers.on("*")
async def probe(event: Event) -> None:
    _record("start", event)
    delay = float(os.environ.get("PROBE_SLEEP") or 0)
    if isinstance(event.payload, dict) and isinstance(
        event.payload.get("probe_sleep"), int | float
    ):
        delay = float(event.payload["probe_sleep"])
    if delay > 0:
        await asyncio.sleep(delay)
    _record("end", event)
