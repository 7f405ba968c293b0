"""`addon people`: the user's people (import, add, remove, list), the accounts of each site and
which person each is (accounts, refresh, map, unmap), forgetting an account, and reporting the
stored accounts to Atlassian (report)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from addon.cli._common import CliError, load, run_with_store
from addon.cli._table import table
from addon.doors import Runtime
from addon.people import (
    BadPerson,
    Directory,
    ImportFailed,
    NotAPerson,
    PeopleStore,
    Person,
    UnknownAccount,
    UnknownPerson,
    forget,
    parse_people,
)
from addon.people_service import JiraRefused, PeopleService
from addon.reach import SiteUnreachable, site_name
from addon.settings import Settings
from addon.store import Store

__all__ = ["register"]

T = TypeVar("T")

MAX_FILE_BYTES = 64 * 1024 * 1024


def register(commands: Any) -> None:
    people = commands.add_parser(
        "people", help="your people, the Jira accounts of each site, and which person each is"
    )
    actions = people.add_subparsers(dest="people_command", metavar="ACTION", required=True)

    imported = actions.add_parser(
        "import",
        help="add or update people from a file: CSV with a header (id,email,name) or JSON lines",
    )
    imported.add_argument("file", metavar="FILE", type=Path, help="the file ('-' for stdin)")
    imported.set_defaults(run=run_import)

    add = actions.add_parser("add", help="add or update one person, by your id for them")
    add.add_argument("person_id", metavar="PERSON_ID")
    add.add_argument("--email", help="their email, the one their Jira account uses")
    add.add_argument("--name", help="their name")
    add.set_defaults(run=run_add)

    remove = actions.add_parser("remove", help="remove a person; their accounts become unmapped")
    remove.add_argument("person_id", metavar="PERSON_ID")
    remove.set_defaults(run=run_remove)

    listing = actions.add_parser("list", help="your people")
    listing.set_defaults(run=run_list)

    accounts = actions.add_parser(
        "accounts", help="the Jira accounts (of one site, or all) and which person each is"
    )
    accounts.add_argument("site", metavar="SITE", nargs="?", help="the site's URL")
    accounts.set_defaults(run=run_accounts)

    mapped = actions.add_parser("map", help="map an account of a site to a person, by hand")
    mapped.add_argument("site", metavar="SITE", help="the site's URL")
    mapped.add_argument("account_id", metavar="ACCOUNT_ID")
    mapped.add_argument("person_id", metavar="PERSON_ID")
    mapped.set_defaults(run=run_map)

    unmapped = actions.add_parser("unmap", help="remove an account's mapping")
    unmapped.add_argument("site", metavar="SITE", help="the site's URL")
    unmapped.add_argument("account_id", metavar="ACCOUNT_ID")
    unmapped.set_defaults(run=run_unmap)

    refresh = actions.add_parser(
        "refresh", help="bring a site's accounts up to Jira's user list (through its door)"
    )
    refresh.add_argument("site", metavar="SITE", help="the site's URL")
    refresh.set_defaults(run=run_refresh)

    report = actions.add_parser(
        "report",
        help="report the stored accounts to Atlassian's personal data reporting API; forget the"
        " closed ones, refresh the updated ones",
    )
    report.set_defaults(run=run_report)

    forgotten = actions.add_parser(
        "forget",
        help="erase an account on every site: the account, its mapping, and its name and email"
        " in stored payloads",
    )
    forgotten.add_argument("account_id", metavar="ACCOUNT_ID")
    forgotten.set_defaults(run=run_forget)


def _directory(store: Store) -> Directory:
    return Directory(PeopleStore(store.db))


def _with_people(settings: Settings, action: Callable[[PeopleService], Awaitable[T]]) -> T:
    """Run `action` on the people of the store, calling Jira through the configured doors."""
    from addon.app import open_doors
    from addon.services import people_for

    _, rendered = load()

    async def go(store: Store) -> T:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False) as http:
            doors = open_doors(settings, rendered)
            for door in doors:
                await door.start(Runtime(store, http, doors))
            return await action(people_for(settings, store, doors))

    return run_with_store(settings, go)


def _read(path: Path) -> str:
    try:
        if str(path) == "-":
            return sys.stdin.read(MAX_FILE_BYTES + 1)
        with path.open(encoding="utf-8-sig") as handle:
            text = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None
    if len(text) > MAX_FILE_BYTES:
        raise CliError(f"{path}: larger than 64 MiB; split it")
    return text


def run_import(args: argparse.Namespace) -> int:
    settings, _ = load()
    text = _read(args.file)
    try:
        parsed = parse_people(text)
    except ImportFailed as exc:
        raise CliError(f"{args.file}: {exc}") from None

    async def go(store: Store) -> int:
        return await _directory(store).upsert(parsed.people) if parsed.people else 0

    written = run_with_store(settings, go)
    if written:
        _with_people(settings, lambda people: people.release_mapped())
    for problem in parsed.problems:
        print(f"{args.file}: line {problem.line}: {problem.reason}", file=sys.stderr)
    skipped = len(parsed.problems)
    print(f"imported {written} people" + (f"; {skipped} rows skipped" if skipped else ""))
    return 1 if skipped else 0


def run_add(args: argparse.Namespace) -> int:
    settings, _ = load()
    try:
        person = Person(args.person_id, args.email, args.name)
    except BadPerson as exc:
        raise CliError(str(exc)) from None
    _with_people(settings, lambda people: people.upsert(person))
    print(f"saved person {person.id}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    settings, _ = load()
    if not run_with_store(settings, lambda store: _directory(store).remove(args.person_id)):
        raise CliError(f"no person with id {args.person_id!r}", exit_code=1)
    print(f"removed person {args.person_id}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    settings, _ = load()
    people = run_with_store(settings, lambda store: PeopleStore(store.db).people())
    rows = [(p.id, p.email or "—", p.name or "—") for p in people]
    for line in table(("ID", "EMAIL", "NAME"), rows):
        print(line)
    return 0


def run_accounts(args: argparse.Namespace) -> int:
    settings, _ = load()
    site = args.site.rstrip("/") if args.site else None
    states = run_with_store(settings, lambda store: _directory(store).states(site))
    rows = []
    for state in states:
        account = state.account
        if state.person_id is not None:
            mapping = f"{state.person_id} ({state.how})"
        elif state.candidates:
            mapping = "shared email: " + ", ".join(state.candidates)
        else:
            mapping = "—"
        rows.append(
            (
                account.site,
                account.account_id,
                account.account_type.value,
                account.display_name or "—",
                account.email or "—",
                state.state.value,
                mapping,
            )
        )
    headers = ("SITE", "ACCOUNT ID", "TYPE", "NAME", "EMAIL", "STATE", "PERSON")
    for line in table(headers, rows):
        print(line)
    return 0


def run_map(args: argparse.Namespace) -> int:
    settings, _ = load()
    site = _site(args.site)
    try:
        _with_people(settings, lambda people: people.map(site, args.account_id, args.person_id))
    except (UnknownAccount, UnknownPerson, NotAPerson) as exc:
        raise CliError(str(exc), exit_code=1) from None
    print(f"mapped {args.account_id} on {site} to {args.person_id}")
    return 0


def run_unmap(args: argparse.Namespace) -> int:
    settings, _ = load()
    site = args.site.rstrip("/")
    try:
        removed = run_with_store(
            settings, lambda store: _directory(store).unmap(site, args.account_id)
        )
    except UnknownAccount as exc:
        raise CliError(str(exc), exit_code=1) from None
    print(f"unmapped {args.account_id} on {site}" if removed else f"{args.account_id} was unmapped")
    return 0


def run_forget(args: argparse.Namespace) -> int:
    settings, _ = load()
    done = run_with_store(settings, lambda store: forget(store.db, args.account_id))
    sites = ", ".join(done.sites) or "no site"
    print(
        f"forgot {args.account_id}: erased from {sites}; {done.deliveries} stored payloads scrubbed"
    )
    return 0


def _site(value: str) -> str:
    try:
        return site_name(value)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def run_refresh(args: argparse.Namespace) -> int:
    settings, _ = load()
    site = _site(args.site)
    try:
        result = _with_people(settings, lambda people: people.refresh(site))
    except (SiteUnreachable, JiraRefused) as exc:
        raise CliError(str(exc), exit_code=1) from None
    except httpx.HTTPError as exc:
        raise CliError(f"{site}: {exc}", exit_code=1) from None
    refused = f"; {result.refused} user objects refused" if result.refused else ""
    print(f"{site}: {result.seen} accounts, {result.removed} removed{refused}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    settings, _ = load()
    reports = _with_people(settings, lambda people: people.report())
    if not reports:
        print("no site's accounts were reported (none stored, or no door reaches their site)")
    for site, reported in reports.items():
        print(
            f"{site}: {len(reported.closed)} closed (forgotten), {len(reported.updated)} updated"
            f" (refreshed); next report in {reported.cycle_seconds / 86_400:g} days"
        )
    return 0
