"""Atlassian's personal data reporting API: tell Atlassian which accounts we store, and learn which
were closed (erase them) or updated (refresh them).

As Atlassian's user privacy guide for app developers describes it (quoted by public code; issue 20):
`POST https://api.atlassian.com/app/report-accounts/` with
`{"accounts": [{"accountId": ..., "updatedAt": ISO-8601}]}`, at most 90 accounts a request;
204 when nothing changed; 200 with `{"accounts": [{"accountId": ..., "status": "closed" |
"updated"}]}`; 429 with `Retry-After` (seconds); the next report is due after the `Cycle-Period`
header's seconds, seven days when absent. Where the call goes depends on the client that makes it
(`report_url`); the caller passes the client, signed as its door signs.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

__all__ = [
    "DEFAULT_CYCLE_SECONDS",
    "MAX_ACCOUNTS_PER_REQUEST",
    "REPORT_PATH",
    "REPORT_URL",
    "ReportFailed",
    "Reported",
    "report_accounts",
    "report_url",
]

REPORT_PATH = "/app/report-accounts/"
REPORT_URL = "https://api.atlassian.com" + REPORT_PATH
MAX_ACCOUNTS_PER_REQUEST = 90
DEFAULT_CYCLE_SECONDS = 7 * 24 * 3600.0
MAX_RETRIES = 5


class ReportFailed(Exception):
    """The reporting API answered something other than 200, 204 or 429 (or 429 too often)."""


@dataclass(slots=True)
class Reported:
    """Accounts to erase (`closed`) and to refresh (`updated`), and when to report next."""

    closed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    cycle_seconds: float = DEFAULT_CYCLE_SECONDS


def report_url(gateway: str | None) -> str:
    """Where a client reports: on Atlassian's gateway for a client that goes through it, else
    (Connect) at `REPORT_PATH` relative to the site's base URL, signed like any call to the site.

    Atlassian staff, community.developer.atlassian.com/t/28679 ("How does the Personal Data
    reporting API work? Authentication? Who calls it?"): a Connect app calls the API "in the
    context of your App, using JWTs to authenticate", for each site it is installed in. And
    /t/53720 ("Authentication for the Personal data reporting API (Oauth2 type)"): an OAuth 2.0
    app calls `https://api.atlassian.com/app/report-accounts/` with a bearer access token, any
    of the app's (the app owner's suggested); Forge's `privacy.reportPersonalData` calls that
    same 3LO endpoint. The Connect path rests on the first answer only.
    """
    return REPORT_PATH if gateway is None else gateway.rstrip("/") + REPORT_PATH


def _iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat().replace("+00:00", "Z")


def _seconds(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if seconds >= 0 else default


async def report_accounts(
    client: httpx.AsyncClient,
    accounts: Sequence[tuple[str, float]],
    *,
    url: str = REPORT_URL,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Reported:
    """Report `(account id, last updated at)` pairs, 90 a request; a 429 waits `Retry-After`."""
    result = Reported()
    for at in range(0, len(accounts), MAX_ACCOUNTS_PER_REQUEST):
        batch = accounts[at : at + MAX_ACCOUNTS_PER_REQUEST]
        body = {"accounts": [{"accountId": a, "updatedAt": _iso(u)} for a, u in batch]}
        for _ in range(MAX_RETRIES):
            response = await client.post(url, json=body)
            if response.status_code != 429:
                break
            await sleep(_seconds(response.headers.get("Retry-After"), 60.0))
        else:
            raise ReportFailed("the reporting API kept answering 429 Too Many Requests")
        if response.status_code not in (200, 204):
            raise ReportFailed(f"the reporting API answered {response.status_code}")
        cycle = response.headers.get("Cycle-Period")
        result.cycle_seconds = _seconds(cycle, DEFAULT_CYCLE_SECONDS)
        if response.status_code == 204:
            continue
        try:
            listed = response.json().get("accounts", [])
        except (ValueError, AttributeError):
            raise ReportFailed("the reporting API answered 200 without a JSON object") from None
        for item in listed if isinstance(listed, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("accountId"), str):
                continue
            if item.get("status") == "closed":
                result.closed.append(item["accountId"])
            elif item.get("status") == "updated":
                result.updated.append(item["accountId"])
    return result
