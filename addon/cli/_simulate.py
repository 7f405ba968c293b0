"""`addon simulate`: act as a Jira site toward a running add-on, offline.

The commands follow one pattern, `addon simulate [DOOR] ACTION`: the Connect door is the default
(`addon simulate send`), and each other door has its word (`addon simulate source send`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import descriptor
from addon.cli._common import CliError, load
from addon.cli._simulate_oauth import register_atlassian, register_oauth
from addon.cli._table import table
from addon.simulator import (
    DEFAULT_ADDON_URL,
    DEFAULT_KEY_SERVER,
    DEFAULT_SITE_URL,
    DEFAULT_STATE_PATH,
    DEFAULT_TOKEN_HEADER,
    MODES,
    KeyServerAddress,
    SendOptions,
    SimulatorError,
    example_events,
    fetch_descriptor,
    http_client,
    install,
    read_payload_file,
    send,
    send_to_source,
    uninstall,
    unknown_event,
)

__all__ = ["register"]

T = TypeVar("T")


def register(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate",
        help="act as a Jira site: install the add-on, send it signed webhooks",
        description=(
            "Act as a Jira Cloud site toward a running add-on. Start the add-on with"
            f" CONNECT_INSTALL_KEYS_URL=http://{DEFAULT_KEY_SERVER} (or the --key-server"
            " address), then: addon simulate install; addon simulate send jira:issue_updated."
            " The site's identity, signing key and shared secrets are kept in"
            f" {DEFAULT_STATE_PATH.expanduser()} (--state FILE for another). Admin webhooks:"
            " addon simulate source send."
        ),
    )
    actions = simulate.add_subparsers(
        dest="simulate_command", metavar="[DOOR] ACTION", required=True
    )

    install_parser = actions.add_parser(
        "install", help="install the add-on: installed (RS256), then enabled"
    )
    _common(install_parser, default_addon=DEFAULT_ADDON_URL)
    _key_server(install_parser)
    install_parser.add_argument(
        "--site-url",
        type=_http_url,
        metavar="URL",
        help=f"the simulated site's baseUrl (default {DEFAULT_SITE_URL}, or the one in the state)",
    )
    install_parser.add_argument(
        "--forge",
        action="store_true",
        help="install as Forge installs a Connect app: an installationId in installed, no enabled",
    )
    install_parser.set_defaults(run=run_install)

    send_parser = actions.add_parser("send", help="send a signed webhook delivery, as Jira does")
    send_parser.add_argument("event", metavar="EVENT", help="e.g. jira:issue_updated")
    _common(send_parser)
    _payload_options(send_parser)
    send_parser.add_argument(
        "--repeat", type=_count, default=1, metavar="N", help="send N deliveries (default 1)"
    )
    send_parser.add_argument(
        "--retry",
        action="store_true",
        help="send each delivery again with the same identifier and X-Atlassian-Webhook-Retry: 1",
    )
    send_parser.add_argument(
        "--concurrency", type=_count, default=1, metavar="N", help="N at a time (default 1)"
    )
    send_parser.set_defaults(run=run_send)

    uninstall_parser = actions.add_parser(
        "uninstall", help="uninstall the add-on: disabled, then uninstalled (RS256)"
    )
    _common(uninstall_parser)
    _key_server(uninstall_parser)
    uninstall_parser.set_defaults(run=run_uninstall)

    rotate_parser = actions.add_parser(
        "rotate-secret", help="re-install the add-on with a new shared secret"
    )
    _common(rotate_parser)
    _key_server(rotate_parser)
    rotate_parser.set_defaults(run=run_rotate)

    events_parser = actions.add_parser(
        "events",
        help="the events the descriptor subscribes to, and those the simulator has payloads for",
    )
    events_parser.add_argument(
        "--addon",
        type=_http_url,
        metavar="URL",
        help="read the descriptor of the add-on running there"
        " (default: the one this configuration renders, as `addon descriptor` prints it)",
    )
    events_parser.set_defaults(run=run_events)

    _register_source(actions)
    register_atlassian(actions)
    register_oauth(actions)
    from addon.cli._simulate_forge import register_forge  # it builds on this module's helpers

    register_forge(actions)


def _register_source(actions: Any) -> None:
    source = actions.add_parser(
        "source",
        help="act as a Jira site sending admin webhooks to a source",
        description="Act as a Jira site sending admin webhooks to a source (addon sources add).",
    )
    source_actions = source.add_subparsers(
        dest="simulate_source_command", metavar="ACTION", required=True
    )
    send_parser = source_actions.add_parser(
        "send",
        help="send one admin-webhook delivery, signed (or carrying its secret) as Jira does",
        description=(
            "Send one admin-webhook delivery to a source URL, as Jira does. The secret is read"
            " from standard input (asked for when it is a terminal), never from the command"
            ' line: printf %%s "$SECRET" | addon simulate source send jira:issue_updated'
            " --url URL --mode cloud-signature"
        ),
    )
    send_parser.add_argument("event", metavar="EVENT", help="e.g. jira:issue_updated")
    send_parser.add_argument(
        "--url",
        required=True,
        type=_http_url_with_query,
        metavar="URL",
        help="the source's URL, as `addon sources add` printed it (${...} variables expanded)",
    )
    send_parser.add_argument(
        "--mode",
        required=True,
        choices=MODES,
        help="cloud-signature: X-Hub-Signature (Jira Cloud); header-token: the secret in a"
        " header; bearer: Authorization: Bearer <secret>",
    )
    send_parser.add_argument(
        "--header",
        metavar="NAME",
        help=f"header-token only: the header carrying the secret (default {DEFAULT_TOKEN_HEADER})",
    )
    _payload_options(send_parser)
    send_parser.set_defaults(run=run_source_send)


def _payload_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--payload", metavar="FILE", help="the JSON body to send ('-' reads standard input)"
    )
    parser.add_argument("--issue", type=_key, metavar="KEY", help="issue key, e.g. DEV-7")
    parser.add_argument("--project", type=_key, metavar="KEY", help="project key, e.g. DEV")


def _common(parser: argparse.ArgumentParser, default_addon: str | None = None) -> None:
    where = (
        f"default {default_addon}"
        if default_addon
        else "default: the add-on the simulated site installed, if it installed one"
    )
    parser.add_argument(
        "--addon",
        type=_http_url,
        default=default_addon,
        metavar="URL",
        help=f"where the add-on runs ({where})",
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help=f"the simulator's state file (default {DEFAULT_STATE_PATH.expanduser()})",
    )


def _key_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-server",
        type=_address,
        default=KeyServerAddress.parse(DEFAULT_KEY_SERVER),
        metavar="HOST:PORT",
        help=f"where to serve the site's public key during the call (default {DEFAULT_KEY_SERVER})",
    )


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL without a query")
    return value.strip().rstrip("/")


def _http_url_with_query(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL")
    return value.strip()


def _address(value: str) -> KeyServerAddress:
    try:
        return KeyServerAddress.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _key(value: str) -> str:
    value = value.strip()
    if not value or any(character.isspace() for character in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a key (e.g. PRJ or PRJ-1)")
    return value


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is less than 1")
    return number


def _state_path(args: argparse.Namespace) -> Path:
    path: Path = args.state if args.state is not None else DEFAULT_STATE_PATH
    return path.expanduser()


def _report(line: str) -> None:
    print(line, flush=True)


def _run(action: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a simulator flow; its failures become one-line CLI errors (exit status 1)."""
    try:
        return asyncio.run(action())
    except SimulatorError as exc:
        raise CliError(str(exc), exit_code=1) from None


def run_install(args: argparse.Namespace) -> int:
    _run(
        lambda: install(
            state_path=_state_path(args),
            addon_url=args.addon,
            key_server=args.key_server,
            site_url=args.site_url,
            report=_report,
            forge=args.forge,
        )
    )
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    _run(
        lambda: install(
            state_path=_state_path(args),
            addon_url=args.addon,
            key_server=args.key_server,
            report=_report,
            rotate=True,
        )
    )
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    _run(
        lambda: uninstall(
            state_path=_state_path(args),
            addon_url=args.addon,
            key_server=args.key_server,
            report=_report,
        )
    )
    return 0


def _payload(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.payload is None:
        return None
    try:
        return read_payload_file(args.payload)
    except SimulatorError as exc:
        raise CliError(str(exc)) from None


def run_send(args: argparse.Namespace) -> int:
    payload = _payload(args)
    summary = _run(
        lambda: send(
            state_path=_state_path(args),
            addon_url=args.addon,
            event=args.event,
            report=_report,
            payload=payload,
            issue=args.issue,
            project=args.project,
            options=SendOptions(args.repeat, args.retry, args.concurrency),
            progress_stream=sys.stderr,
        )
    )
    return 0 if summary.failed == 0 else 1


def run_events(args: argparse.Namespace) -> int:
    if args.addon is not None:

        async def fetch() -> list[str]:
            async with http_client() as client:
                return (await fetch_descriptor(client, args.addon)).events()

        subscribed = _run(fetch)
        whose = f"the descriptor of the add-on at {args.addon}"
    else:
        _, rendered = load()
        subscribed = list(dict.fromkeys(module.event for module in rendered.webhooks))
        whose = "the descriptor this configuration renders (addon descriptor)"
    examples = example_events()
    ordered = subscribed + [event for event in examples if event not in subscribed]
    rows = [
        (
            event,
            "yes" if event in subscribed else "-",
            "yes" if event in examples else "- (needs --payload FILE)",
        )
        for event in ordered
    ]
    print(f"SUBSCRIBED: in {whose}; PAYLOAD: the simulator has a built-in example")
    print("\n".join(table(("EVENT", "SUBSCRIBED", "PAYLOAD"), rows)))
    return 0


def _read_secret() -> str:
    """The source's secret, from standard input: asked for (not echoed) on a terminal."""
    typed = sys.stdin.isatty()
    secret = getpass.getpass("the source's secret: ") if typed else sys.stdin.read()
    secret = secret.strip("\r\n")
    if not secret:
        raise CliError(
            "the secret is read from standard input, which is empty:"
            ' printf %s "$SECRET" | addon simulate source send ...'
        )
    return secret


def run_source_send(args: argparse.Namespace) -> int:
    if args.header is not None and args.mode != "header-token":
        raise CliError("--header applies to --mode header-token only")
    if args.payload == "-":
        raise CliError("--payload -: standard input carries the secret; give a file")
    payload = _payload(args)
    if payload is None and descriptor.lookup(args.event) is None:
        raise CliError(unknown_event(args.event), exit_code=1)
    secret = _read_secret()
    summary = _run(
        lambda: send_to_source(
            url=args.url,
            event=args.event,
            mode=args.mode,
            secret=secret,
            header=args.header,
            report=_report,
            payload=payload,
            issue=args.issue,
            project=args.project,
        )
    )
    return 0 if summary.failed == 0 else 1
