"""`addon oauth`: the sites connected with OAuth 2.0: list them, refresh their tokens and webhooks
now, catch up a gap, disconnect one. SITE is a site's URL or its cloudId."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from addon.cli._common import CliError, load
from addon.cli._sources import parse_duration
from addon.cli._table import table
from addon.doors import Runtime
from addon.reach import Reach, SiteUnreachable
from addon.settings import Settings
from addon.sites import (
    AtlassianError,
    NeedsReconnect,
    SiteStatus,
    SiteWork,
    UnknownSite,
    all_site_facts,
)
from addon.store import DecryptionError, HandlerState, StoreUnavailable, open_store

__all__ = ["register"]

T = TypeVar("T")

MAX_CATCH_UP_SECONDS = 90 * 86400


def register(commands: Any) -> None:
    oauth = commands.add_parser(
        "oauth", help="Jira sites connected with OAuth 2.0: list, refresh, catch up, disconnect"
    )
    actions = oauth.add_subparsers(dest="oauth_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", help="each site: status, webhooks and their expiry, refresh token end of life"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)
    refresh = actions.add_parser(
        "refresh", help="refresh tokens and webhooks now (every connected site, or SITE)"
    )
    refresh.add_argument("site", nargs="?", metavar="SITE", help="a site's URL or cloudId")
    refresh.set_defaults(run=run_refresh)
    catch = actions.add_parser(
        "catch-up", help="record the issues SITE changed in the last DURATION that were missed"
    )
    catch.add_argument("site", metavar="SITE", help="a site's URL or cloudId")
    catch.add_argument(
        "--since", required=True, type=_duration, metavar="DURATION", help="e.g. 2h, 1d, 90m"
    )
    catch.set_defaults(run=run_catch_up)
    disconnect = actions.add_parser(
        "disconnect",
        help="delete SITE's webhooks in Jira, then its tokens (its deliveries stay in the log)",
    )
    disconnect.add_argument("site", metavar="SITE", help="a site's URL or cloudId")
    disconnect.set_defaults(run=run_disconnect)


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 < seconds <= MAX_CATCH_UP_SECONDS:
        raise argparse.ArgumentTypeError("a catch-up covers at most 90 days (90d)")
    return seconds


def _settings() -> Settings:
    settings, _ = load()
    if not settings.oauth_enabled:
        raise CliError("the OAuth door is off: set ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET")
    return settings


def _with_work(settings: Settings, action: Callable[[SiteWork], Awaitable[T]]) -> T:
    """Open the store and its writer (a catch-up records deliveries), run `action`, close."""

    async def go() -> T:
        store = await open_store(
            settings.database_url,
            keys=settings.encryption_keys,
            encrypt_existing=False,
            handler_state=HandlerState.PENDING if settings.handlers else HandlerState.NONE,
        )
        await store.start()
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
                return await action(SiteWork(settings, store, http, clock=time.time))
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except StoreUnavailable as exc:
        raise CliError(f"DATABASE_URL: {exc.detail}") from None
    except DecryptionError as exc:
        raise CliError(f"ADDON_ENCRYPTION_KEY: {exc}") from None
    except UnknownSite as exc:
        raise CliError(exc.reason, exit_code=1) from None
    except NeedsReconnect as exc:
        raise CliError(f"{exc}: connect it again at /oauth/connect", exit_code=1) from None
    except AtlassianError as exc:
        raise CliError(f"Atlassian: {exc}", exit_code=1) from None


def run_list(args: argparse.Namespace) -> int:
    settings = _settings()

    async def listing(work: SiteWork) -> list[dict[str, Any]]:
        return await all_site_facts(work.sites, now=time.time())

    facts = _with_work(settings, listing)
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    if not facts:
        print("no site is connected; an admin connects one at ADDON_BASE_URL/oauth/connect")
        return 0
    rows = [
        [
            f["url"],
            f["cloud_id"],
            f["status"],
            ", ".join(f"{h['id']} (until {h['expires_at'] or '?'})" for h in f["webhooks"]) or "-",
            f["refresh_token_ends_at"] or "-",
            f["last_delivery_at"] or "-",
        ]
        for f in facts
    ]
    headers = ["SITE", "CLOUD ID", "STATUS", "WEBHOOKS", "REFRESH TOKEN ENDS", "LAST DELIVERY"]
    for line in table(headers, rows):
        print(line)
    for f in facts:
        for note in (f["status_reason"], f["refresh_token_warning"], *f["webhook_errors"]):
            if note:
                print(f"{f['url']}: {note}")
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    settings = _settings()

    async def refresh(work: SiteWork) -> int:
        sites = [await work.find(args.site)] if args.site else await work.sites.all()
        failed = 0
        for site in sites:
            if site.status is not SiteStatus.CONNECTED:
                print(f"{site.url}: {site.status.value}, skipped ({site.status_reason or '-'})")
                failed += site.status is SiteStatus.NEEDS_RECONNECT
                continue
            try:
                await work.tokens.access_token(site.cloud_id, force=True)
                report, caught = await work.upkeep_site(site)
            except (NeedsReconnect, AtlassianError) as exc:
                print(f"{site.url}: {exc}")
                failed += 1
                continue
            print(
                f"{site.url}: tokens refreshed; webhooks registered {report.registered or '-'},"
                f" refreshed {report.refreshed or '-'}, retired {report.retired or '-'},"
                f" forgotten by Jira {report.forgotten or '-'}"
            )
            if caught is not None:
                print(f"{site.url}: {caught} issue change(s) missed meanwhile caught up")
            for error in report.errors:
                print(f"{site.url}: Jira refused a registration: {error}")
                failed += 1
        return 1 if failed else 0

    return _with_work(settings, refresh)


def run_catch_up(args: argparse.Namespace) -> int:
    settings = _settings()

    async def catch_up(work: SiteWork) -> int:
        site = await work.find(args.site)
        if site.status is not SiteStatus.CONNECTED:
            raise CliError(f"{site.url} is {site.status.value}", exit_code=1)
        return await work.catch_up(site, time.time() - args.since)

    count = _with_work(settings, catch_up)
    print(f"{count} issue change(s) recorded as {'catch-up:issue'} deliveries")
    # Search is eventually consistent: the pass is planned in the database, for the heartbeat.
    print("the same gap is searched again in a minute, by the running server")
    return 0


def run_disconnect(args: argparse.Namespace) -> int:
    settings = _settings()

    async def disconnect(work: SiteWork) -> tuple[str, list[int], str | None, int | None]:
        site = await work.find(args.site)
        deleted, problem = await work.disconnect(site)
        return site.url, deleted, problem, await _erase_people(work, site.url)

    url, deleted, problem, erased = _with_work(settings, disconnect)
    print(f"{url}: disconnected; webhooks deleted in Jira: {deleted or '-'}; tokens forgotten")
    if problem:
        print(f"{url}: {problem}")
    if erased is None:
        print(f"{url}: its people accounts are kept: another door still reaches the site")
    elif erased:
        print(f"{url}: {erased} people account(s) erased, with their mappings")
    return 0


async def _erase_people(work: SiteWork, url: str) -> int | None:
    """Erase the site's people accounts (with their mappings) unless another door still reaches
    the site (an installed Connect app, Forge, an API token); None when they are kept."""
    from addon.app import open_doors
    from addon.services import people_for

    _, rendered = load()
    doors = open_doors(work.settings, rendered)
    for door in doors:
        await door.start(Runtime(work.store, work.http))
    try:
        await Reach(doors).client_for(url)
    except SiteUnreachable:
        return await people_for(work.settings, work.store, doors).forget_site(url)
    return None
