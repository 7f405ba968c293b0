"""`addon simulate atlassian` and `addon simulate oauth send`: the OAuth 2.0 door, offline.

Both read the app's credentials where the add-on reads them (ATLASSIAN_CLIENT_ID and
ATLASSIAN_CLIENT_SECRET in the environment or `.env`), so the fake and the add-on agree without a
secret on any command line.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvicorn

from addon.cli._common import CliError
from addon.settings import Settings, SettingsError, load_settings
from addon.simulator import (
    DEFAULT_ATLASSIAN_ADDRESS,
    FakeAtlassian,
    KeyServerAddress,
    SimulatorError,
    read_payload_file,
    send_oauth,
)

__all__ = ["register_atlassian", "register_oauth"]


def register_atlassian(actions: Any) -> None:
    parser = actions.add_parser(
        "atlassian",
        help="run a fake Atlassian: OAuth 2.0 consent and tokens, Jira sites, dynamic webhooks",
        description=(
            f"Run a fake Atlassian on {DEFAULT_ATLASSIAN_ADDRESS} (--listen for another address)"
            " for the add-on's OAuth 2.0 door: start the add-on with ATLASSIAN_AUTH_URL and"
            f" ATLASSIAN_API_URL set to http://{DEFAULT_ATLASSIAN_ADDRESS}. It approves every"
            " consent at once. Its clock moves on with"
            " curl -X POST -d '{\"advance\": 86400}' http://HOST:PORT/_fake/clock."
        ),
    )
    parser.add_argument(
        "--listen",
        type=_address,
        default=KeyServerAddress.parse(DEFAULT_ATLASSIAN_ADDRESS),
        metavar="HOST:PORT",
        help=f"where to listen (default {DEFAULT_ATLASSIAN_ADDRESS})",
    )
    parser.add_argument(
        "--site",
        action="append",
        metavar="NAME",
        help="a site NAME.atlassian.net the consent covers (repeat for several; default: example)",
    )
    parser.add_argument(
        "--projects",
        default="DEV",
        metavar="KEYS",
        help="each site's projects, comma-separated (default DEV)",
    )
    parser.set_defaults(run=run_atlassian)


def register_oauth(actions: Any) -> None:
    oauth = actions.add_parser(
        "oauth",
        help="act as a Jira site delivering a dynamic webhook to an OAuth-connected add-on",
        description="Act as a Jira site connected to the add-on with OAuth 2.0.",
    )
    oauth_actions = oauth.add_subparsers(
        dest="simulate_oauth_command", metavar="ACTION", required=True
    )
    send = oauth_actions.add_parser(
        "send",
        help="deliver EVENT to the URL the add-on registered, signed as Jira signs it",
        description=(
            "Deliver EVENT to the URL the add-on registered for --site at the fake Atlassian,"
            " with Authorization: Bearer <HS256 JWT signed with ATLASSIAN_CLIENT_SECRET>."
        ),
    )
    send.add_argument("event", metavar="EVENT", help="e.g. jira:issue_updated")
    send.add_argument(
        "--site", required=True, metavar="URL", help="the site's URL (or cloudId) at the fake"
    )
    send.add_argument(
        "--atlassian",
        default=f"http://{DEFAULT_ATLASSIAN_ADDRESS}",
        metavar="URL",
        help=f"where the fake Atlassian runs (default http://{DEFAULT_ATLASSIAN_ADDRESS})",
    )
    send.add_argument("--payload", metavar="FILE", help="the JSON body to send")
    send.add_argument("--issue", metavar="KEY", help="issue key, e.g. DEV-7")
    send.add_argument("--project", metavar="KEY", help="project key, e.g. DEV")
    send.set_defaults(run=run_oauth_send)


def _address(value: str) -> KeyServerAddress:
    try:
        return KeyServerAddress.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _credentials() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    if not settings.oauth_enabled:
        raise CliError(
            "ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET must be set (the same values as the"
            " add-on's), e.g. in .env"
        )
    return settings


def build_fake(settings: Settings, sites: list[str], projects: list[str]) -> FakeAtlassian:
    assert settings.atlassian_client_id and settings.atlassian_client_secret
    fake = FakeAtlassian(
        client_id=settings.atlassian_client_id, client_secret=settings.atlassian_client_secret
    )
    for name in sites:
        fake.add_site(name, projects)
    return fake


def run_atlassian(args: argparse.Namespace) -> int:
    settings = _credentials()
    projects = [key.strip() for key in args.projects.split(",") if key.strip()]
    fake = build_fake(settings, args.site or ["example"], projects or ["DEV"])
    for site in fake.sites.values():
        print(f"site {site.url} (cloudId {site.cloud_id}), projects {', '.join(site.projects)}")
    print(
        f"fake Atlassian on {args.listen.url}: start the add-on with"
        f" ATLASSIAN_AUTH_URL={args.listen.url} ATLASSIAN_API_URL={args.listen.url}",
        flush=True,
    )
    try:
        uvicorn.run(fake.app, host=args.listen.host, port=args.listen.port, log_level="warning")
    except OSError as exc:
        raise CliError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    return 0


def run_oauth_send(args: argparse.Namespace) -> int:
    settings = _credentials()
    assert settings.atlassian_client_secret is not None
    try:
        payload = read_payload_file(args.payload) if args.payload else None
        answer = asyncio.run(
            send_oauth(
                atlassian_url=args.atlassian,
                site=args.site,
                event=args.event,
                secret=settings.atlassian_client_secret,
                report=lambda line: print(line, flush=True),
                payload=payload,
                issue=args.issue,
                project=args.project,
            )
        )
    except SimulatorError as exc:
        raise CliError(str(exc), exit_code=1) from None
    return 0 if answer.ok else 1
