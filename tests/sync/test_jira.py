"""The sync's Jira calls: Retry-After, Atlassian Document Format, how failures are classed."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import httpx
import pytest

from addon.simulator import FakeJiraWork
from addon.sync import JiraCalls, JiraRefused, JiraUnavailable, adf, retry_after
from tests.sync.support import Clock, client_factory, running_jira


def test_retry_after_in_seconds_or_as_a_date_bounded() -> None:
    assert retry_after("30", now=0.0) == 30.0
    assert retry_after(formatdate(1000.0, usegmt=True), now=940.0) == 60.0
    assert retry_after("999999", now=0.0) == 3600.0
    assert retry_after("soon", now=0.0) is None
    assert retry_after(None, now=0.0) is None


def test_adf_paragraphs_and_line_breaks() -> None:
    assert adf("One\nline two\n\nSecond") == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "One"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "line two"},
                ],
            },
            {"type": "paragraph", "content": [{"type": "text", "text": "Second"}]},
        ],
    }
    assert adf("") == {"type": "doc", "version": 1, "content": []}


def _call(method: str, path: str, fault: str | None = None, **kwargs: object) -> object:
    """One call to the fake Jira on a loopback port, after asking it to fail with `fault`."""
    clock = Clock()
    with running_jira(clock) as (fake, url):
        site = fake.add_site("acme")
        if fault is not None:
            fake.fail_next(method, path, fault, retry_after="7")

        async def go() -> object:
            async with client_factory(fake, url)(site.url) as client:
                return await JiraCalls(client, now=clock.now).call(
                    method,
                    f"/rest/api/3{path}",
                    **kwargs,  # type: ignore[arg-type]
                )

        return asyncio.run(go())


def test_4xx_is_refused_with_jiras_reasons() -> None:
    with pytest.raises(JiraRefused, match=r"400.*summary: You must specify a summary"):
        _call("POST", "/issue", json={"fields": {"project": {"key": "DEV"}}})


def test_429_and_5xx_are_retried_and_a_failed_write_is_unclear() -> None:
    with pytest.raises(JiraUnavailable) as busy:
        _call("POST", "/issue", "429")
    assert busy.value.retry_after == 7.0 and not busy.value.unclear
    with pytest.raises(JiraUnavailable) as down:
        _call("POST", "/issue", "503")
    assert down.value.unclear
    with pytest.raises(JiraUnavailable) as cut:
        _call("POST", "/issue", "kill-after", json={})
    assert cut.value.unclear and "no answer" in str(cut.value)
    with pytest.raises(JiraUnavailable) as read:
        _call("GET", "/priority", "503")
    assert not read.value.unclear
    assert _call("GET", "/priority") == [
        {"self": f"https://acme.atlassian.net/rest/api/3/priority/{i}", "id": i, "name": n}
        for i, n in (
            ("1", "Highest"),
            ("2", "High"),
            ("3", "Medium"),
            ("4", "Low"),
            ("5", "Lowest"),
        )
    ]


def test_a_write_answered_2xx_with_a_broken_body_is_unclear() -> None:
    """In-process (no socket to break), the cut answer arrives as a 201 with half a body: Jira
    made the issue, so the create must be searched for, never simply repeated."""
    fake = FakeJiraWork()
    site = fake.add_site("acme")

    async def go(method: str, path: str) -> None:
        fake.fail_next(method, path, "kill-after")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fake.app),
            base_url=f"http://gateway.test/ex/jira/{site.cloud_id}",
        ) as client:
            await JiraCalls(client, now=time.time).call(
                method, f"/rest/api/3{path}", json={"fields": {"summary": "x"}}
            )

    with pytest.raises(JiraUnavailable) as write:
        asyncio.run(go("POST", "/issue"))
    assert write.value.unclear and "not JSON" in str(write.value)
    with pytest.raises(JiraUnavailable) as read:
        asyncio.run(go("GET", "/priority"))
    assert not read.value.unclear
