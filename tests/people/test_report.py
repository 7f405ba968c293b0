"""The personal data reporting API against a local fake on a real loopback server: 90 accounts a
request, 204 nothing changed, 200 closed/updated, 429 waits Retry-After, Cycle-Period."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from addon.people import MAX_ACCOUNTS_PER_REQUEST, ReportFailed, report_accounts
from tests.support.loopback import LoopbackServer


class FakeReporting:
    """Atlassian's side: records each request's accounts and answers from a script."""

    def __init__(self, answers: list[Response]) -> None:
        self.answers = answers
        self.requests: list[list[dict[str, Any]]] = []
        self.app = Starlette(routes=[Route("/app/report-accounts/", self.report, methods=["POST"])])

    async def report(self, request: Request) -> Response:
        self.requests.append((await request.json())["accounts"])
        return self.answers.pop(0)


def report(fake: FakeReporting, accounts: list[tuple[str, float]], sleeps: list[float]) -> Any:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> Any:
        with LoopbackServer(fake.app) as server:
            async with httpx.AsyncClient() as client:
                return await report_accounts(
                    client, accounts, url=f"{server.url}/app/report-accounts/", sleep=sleep
                )

    return asyncio.run(go())


def test_accounts_go_90_a_request_and_closed_and_updated_come_back() -> None:
    accounts = [(f"acc-{n}", 1_700_000_000.0 + n) for n in range(200)]
    fake = FakeReporting(
        [
            JSONResponse(
                {
                    "accounts": [
                        {"accountId": "acc-1", "status": "closed"},
                        {"accountId": "acc-2", "status": "updated"},
                        {"accountId": "acc-3", "status": "something new"},
                    ]
                },
                headers={"Cycle-Period": "1296000"},
            ),
            Response(status_code=429, headers={"Retry-After": "7"}),
            Response(status_code=204, headers={"Cycle-Period": "604800"}),
            JSONResponse({"accounts": [{"accountId": "acc-199", "status": "closed"}]}),
        ]
    )
    sleeps: list[float] = []
    result = report(fake, accounts, sleeps)
    assert [len(r) for r in fake.requests] == [90, 90, 90, 20]  # the 429'd batch sent again
    assert fake.requests[1] == fake.requests[2]
    assert fake.requests[0][0] == {"accountId": "acc-0", "updatedAt": "2023-11-14T22:13:20Z"}
    assert MAX_ACCOUNTS_PER_REQUEST == 90
    assert sleeps == [7.0]
    assert result.closed == ["acc-1", "acc-199"]
    assert result.updated == ["acc-2"]
    assert result.cycle_seconds == 7 * 24 * 3600.0  # the last answer named none: the default


def test_an_unexpected_answer_is_a_clear_failure() -> None:
    fake = FakeReporting([Response(status_code=401)])
    with pytest.raises(ReportFailed, match="answered 401"):
        report(fake, [("acc-1", 0.0)], [])
