"""The failures the fake Jira serves when a test asks (`FakeJiraWork.fail_next`): a refusal
(`429`/`503`, with `Retry-After` if given), or `kill-after`, the work done and the answer broken
off after its first bytes."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Faults"]


@dataclass(slots=True)
class _Fault:
    method: str
    path: re.Pattern[str]
    kind: str
    retry_after: str | None


class Faults:
    """The failures asked for; each is served once, to the next request it matches."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._pending: list[_Fault] = []

    def add(self, method: str, path: str, kind: str, retry_after: str | None) -> None:
        with self._lock:
            self._pending.append(_Fault(method, re.compile(path), kind, retry_after))

    def wrap(self, routes: ASGIApp) -> ASGIApp:
        """`routes` with the failures asked for."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            fault = self._take(scope) if scope["type"] == "http" else None
            if fault is None:
                await routes(scope, receive, send)
                return
            if fault.kind != "kill-after":
                headers = [(b"content-type", b"application/json")]
                if fault.retry_after is not None:
                    headers.append((b"retry-after", fault.retry_after.encode()))
                await send(
                    {"type": "http.response.start", "status": int(fault.kind), "headers": headers}
                )
                await send({"type": "http.response.body", "body": b'{"errorMessages":["busy"]}'})
                return

            async def swallow(message: Message) -> None:
                return None

            await routes(scope, receive, swallow)
            # The work is done; the answer is broken off after its first bytes.
            await send(
                {
                    "type": "http.response.start",
                    "status": 201,
                    "headers": [(b"content-length", b"1000")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id"', "more_body": False})

        return app

    def _take(self, scope: Scope) -> _Fault | None:
        rest = str(scope["path"]).split("/rest/api/3", 1)[-1]
        with self._lock:
            for fault in self._pending:
                if fault.method == scope["method"] and fault.path.fullmatch(rest):
                    self._pending.remove(fault)
                    return fault
        return None
