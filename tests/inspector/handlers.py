"""Handlers for the inspector tests: an issue whose key starts with FAIL- makes the handler fail,
one whose key starts with DEEP- makes it fail with a traceback too long to keep whole."""

from __future__ import annotations

from addon.handlers import Event, Handlers

handlers = Handlers()


@handlers.on("jira:issue_created")
async def refuse_failing_issues(event: Event) -> None:
    key = event.view.issue_key or ""
    if key.startswith("FAIL-"):
        raise RuntimeError(f"the test handler refuses {key}")
    if key.startswith("DEEP-"):
        _down(200, key)


def _down(depth: int, key: str) -> None:
    if depth == 0:
        raise ConnectionError(f"the test handler lost its stream for {key}")
    _across(depth - 1, key)


def _across(depth: int, key: str) -> None:
    _down(depth - 1, key)
