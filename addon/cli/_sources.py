"""`addon sources`: add, list, rotate and remove the Jira sites that send admin webhooks.

A secret is printed once, when it is created or rotated, and never again.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import descriptor
from addon.cli._common import CliError, load, run_with_store
from addon.jira import check_base_url
from addon.reach import site_name
from addon.settings_warnings import encryption_warning
from addon.sources import (
    SIGNATURE_HEADER,
    ApiTokens,
    Source,
    SourceError,
    SourceMode,
    Sources,
    new_secret,
    webhook_url,
)
from addon.store import Store

__all__ = ["instructions", "parse_duration", "register"]

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_GRACE_SECONDS = 30 * 86400


def register(commands: Any) -> None:
    sources = commands.add_parser(
        "sources", help="Jira sites that send admin webhooks (Cloud secret, Data Center token)"
    )
    actions = sources.add_subparsers(dest="sources_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add", help="add a source and print what to paste into Jira (its secret, once)"
    )
    add.add_argument("name", metavar="NAME", help="a short name, e.g. jira-cloud or jira-dc")
    add.add_argument(
        "--mode",
        required=True,
        choices=[mode.value for mode in SourceMode],
        help="cloud-signature: Jira Cloud's X-Hub-Signature; header-token: a header carrying "
        "the secret (Data Center); bearer: Authorization: Bearer <secret>",
    )
    add.add_argument(
        "--header", metavar="NAME", help="header-token only: the header name (X-Webhook-Token)"
    )
    add.add_argument(
        "--events",
        metavar="LIST",
        help="comma-separated events to handle; others are stored as ignored (default: all)",
    )
    add.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the secret from standard input instead of generating one",
    )
    add.add_argument(
        "--url-template",
        metavar="QUERY",
        help="Jira ${...} variables to append to the URL, e.g. '?issueKey=${issue.key}'; "
        "their values become the delivery's context",
    )
    add.set_defaults(run=run_add)

    listing = actions.add_parser("list", help="list sources (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)

    rotate = actions.add_parser("rotate", help="give a source a new secret and print it, once")
    rotate.add_argument("name", metavar="NAME")
    rotate.add_argument(
        "--grace",
        metavar="DURATION",
        type=_duration_argument,
        default=0.0,
        help="keep the old secret working this long, e.g. 30s, 10m, 2h (default: stop at once)",
    )
    rotate.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the new secret from standard input instead of generating one",
    )
    rotate.set_defaults(run=run_rotate)

    token = actions.add_parser(
        "token",
        help="give a source's handlers a Jira client: an API token, read from standard input",
        description=(
            "Bind an Atlassian API token (email plus token, basic auth against --url) to source"
            " NAME, so that its handlers' event.jira_client() and people/sync can call that site."
            " The token is read from standard input, never from the command line, and stored"
            " encrypted. Inbound stays the admin webhook."
        ),
    )
    token.add_argument("name", metavar="NAME")
    token.add_argument("--url", metavar="URL", help="the site, e.g. https://SITE.atlassian.net")
    token.add_argument("--email", metavar="EMAIL", help="the Atlassian account the token is of")
    token.add_argument("--remove", action="store_true", help="forget the source's API token")
    token.set_defaults(run=run_token)

    remove = actions.add_parser("remove", help="delete a source; its URL stops working")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=run_remove)


def parse_duration(text: str) -> float:
    """Seconds in `30s`, `10m`, `2h`, `1d` or `1h30m`; a bare number is seconds."""
    value = text.strip().lower()
    if value.isdigit():
        return float(value)
    if not value or _DURATION.sub("", value):
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 1h30m")
    return float(sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(value)))


def _duration_argument(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds > MAX_GRACE_SECONDS:
        raise argparse.ArgumentTypeError("the grace period may be at most 30 days")
    return seconds


def _secret(from_stdin: bool) -> str:
    if not from_stdin:
        return new_secret()
    secret = sys.stdin.read().strip("\r\n")
    if not secret:
        raise CliError("--secret-stdin: standard input is empty")
    return secret


def _api_token() -> str:
    interactive = sys.stdin.isatty()
    value = getpass.getpass("API token (not echoed): ") if interactive else sys.stdin.read()
    value = value.strip()
    if not value:
        raise CliError("the API token is read from standard input, which is empty")
    return value


def run_token(args: argparse.Namespace) -> int:
    settings, _ = load()
    if args.remove:

        async def forget(store: Store) -> bool:
            return await ApiTokens(store.db, store.box).remove(args.name)

        removed = run_with_store(settings, forget)
        print(f"{args.name}: API token {'forgotten' if removed else 'was not set'}")
        return 0
    if not args.url or not args.email:
        raise CliError("--url and --email are required (or --remove)")
    try:
        check_base_url(args.url)
        site = site_name(args.url)
    except ValueError as exc:
        raise CliError(f"--url: {exc}") from None
    if "@" not in args.email:
        raise CliError(f"--email: {args.email!r} is not an email address")
    secret = _api_token()

    async def bind(store: Store) -> bool:
        if await Sources(store.db, store.box).get_by_name(args.name) is None:
            return False
        await ApiTokens(store.db, store.box).bind(args.name, site, args.email, secret)
        return True

    if not run_with_store(settings, bind):
        raise CliError(f"no source {args.name!r} (addon sources list)", exit_code=1)
    warning = encryption_warning(settings)
    if warning:
        print(f"addon: warning: {warning}", file=sys.stderr)
    print(f"{args.name}: API token of {args.email} stored for {site}")
    return 0


def _events(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if descriptor.lookup(name) is None:
            hint = descriptor.closest(name)
            suggestion = f" (did you mean {', '.join(hint)}?)" if hint else ""
            warning = f"addon: warning: {name!r} is not a known Jira event{suggestion}"
            print(warning, file=sys.stderr)
    return names


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _credential_lines(source: Source, secret: str) -> list[str]:
    if source.mode is SourceMode.CLOUD_SIGNATURE:
        return [
            f"  Secret:  {secret}",
            '           paste it into Secret; do not click "Generate secret" (that replaces it)',
            f"           Jira then signs each delivery ({SIGNATURE_HEADER}: sha256=...)",
        ]
    return [
        f"  Header:  {source.credential_header}: "
        + (f"Bearer {secret}" if source.mode is SourceMode.BEARER else secret),
        "           every delivery must carry this header (name and value exactly)",
    ]


def _events_line(source: Source) -> str:
    if source.events is None:
        return "  Events:  tick the events you want; every event is handled"
    return "  Events:  tick " + ", ".join(source.events) + " (other events are stored as ignored)"


def instructions(source: Source, secret: str, base_url: str) -> str:
    """What to enter in Jira's webhook form (Settings > System > WebHooks) for a new source."""
    lines = [
        f"Added source {source.name} ({source.mode.value}).",
        "",
        "In Jira, create a webhook (Settings > System > WebHooks) with:",
        f"  URL:     {webhook_url(base_url, source.key)}{source.url_template or ''}",
        *_credential_lines(source, secret),
        _events_line(source),
        '  Leave "Exclude body" unchecked: the body is what is verified and handled.',
        "",
        "This secret is shown only now and cannot be printed again; if it is lost, run",
        f"addon sources rotate {source.name}",
    ]
    return "\n".join(lines)


def run_add(args: argparse.Namespace) -> int:
    settings, _ = load()
    warning = encryption_warning(settings)
    if warning is not None:
        print(f"addon: warning: {warning}", file=sys.stderr)
    mode = SourceMode(args.mode)
    secret = _secret(args.secret_stdin)
    events = _events(args.events)

    async def add(store: Store) -> Source:
        return await Sources(store.db, store.box).add(
            args.name,
            mode,
            secret,
            header=args.header,
            events=events,
            url_template=args.url_template,
        )

    try:
        source = run_with_store(settings, add)
    except SourceError as exc:
        raise CliError(str(exc)) from None
    print(instructions(source, secret, settings.base_url))
    return 0


def _row(source: Source, base_url: str, now: float) -> dict[str, Any]:
    until = source.previous_expires_at if source.in_grace(now) else None
    return {
        "name": source.name,
        "mode": source.mode.value,
        "header": source.credential_header,
        "events": list(source.events) if source.events is not None else None,
        "url": webhook_url(base_url, source.key) + (source.url_template or ""),
        "created_at": _when(source.created_at),
        "rotated_at": _when(source.rotated_at),
        "previous_secret_until": _when(until),
    }


def run_list(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def listing(store: Store) -> list[Source]:
        return await Sources(store.db, store.box).list()

    now = time.time()
    rows = [_row(source, settings.base_url, now) for source in run_with_store(settings, listing)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no sources; add one with: addon sources add NAME --mode MODE")
    for row in rows:
        events = ", ".join(row["events"]) if row["events"] is not None else "all events"
        print(f"{row['name']}  {row['mode']} ({row['header']})  {events}")
        print(f"  {row['url']}")
        if row["previous_secret_until"]:
            print(f"  previous secret accepted until {row['previous_secret_until']}")
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    settings, _ = load()
    secret = _secret(args.secret_stdin)

    async def rotate(store: Store) -> Source | None:
        return await Sources(store.db, store.box).rotate(args.name, secret, grace=args.grace)

    try:
        source = run_with_store(settings, rotate)
    except SourceError as exc:
        raise CliError(str(exc)) from None
    if source is None:
        raise CliError(f"no source named {args.name!r} (addon sources list shows them)", 1)
    if source.previous_expires_at is not None:
        old = f"The old secret keeps working until {_when(source.previous_expires_at)}."
    else:
        old = "The old secret stopped working now."
    lines = [
        f"New secret for source {source.name} ({source.mode.value}); update the webhook in Jira:",
        *_credential_lines(source, secret),
        old,
        "This secret is shown only now and cannot be printed again.",
    ]
    print("\n".join(lines))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def remove(store: Store) -> bool:
        return await Sources(store.db, store.box).remove(args.name)

    if not run_with_store(settings, remove):
        raise CliError(f"no source named {args.name!r} (addon sources list shows them)", 1)
    print(f"removed source {args.name}: its URL stops working; its deliveries stay in the log")
    return 0
