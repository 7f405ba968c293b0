"""Handlers for the inspector tests: an issue whose key starts with FAIL- makes the handler fail."""

from __future__ import annotations

from addon.handlers import Event, Handlers

handlers = Handlers()


@handlers.on("jira:issue_created")
async def refuse_failing_issues(event: Event) -> None:
    key = event.view.issue_key or ""
    if key.startswith("FAIL-"):
        raise RuntimeError(f"the test handler refuses {key}")
