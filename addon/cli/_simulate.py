"""`addon simulate`: act as a Jira Cloud site toward a running add-on, offline."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from addon.cli._common import CliError
from addon.simulator import (
    DEFAULT_ADDON_URL,
    DEFAULT_KEY_SERVER,
    DEFAULT_SITE_URL,
    DEFAULT_STATE_PATH,
    KeyServerAddress,
    SendOptions,
    SimulatorError,
    install,
    read_payload_file,
    send,
    uninstall,
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
        ),
    )
    actions = simulate.add_subparsers(dest="simulate_command", metavar="ACTION", required=True)

    install_parser = actions.add_parser(
        "install", help="install the add-on: installed (RS256), then enabled"
    )
    _common(install_parser)
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
    send_parser.add_argument(
        "--payload", metavar="FILE", help="the JSON body to send ('-' reads standard input)"
    )
    send_parser.add_argument("--issue", type=_key, metavar="KEY", help="issue key, e.g. DEV-7")
    send_parser.add_argument("--project", type=_key, metavar="KEY", help="project key, e.g. DEV")
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


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--addon",
        type=_http_url,
        default=DEFAULT_ADDON_URL,
        metavar="URL",
        help=f"where the add-on runs (default {DEFAULT_ADDON_URL})",
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help=f"the simulator's state file (default {DEFAULT_STATE_PATH})",
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


def run_send(args: argparse.Namespace) -> int:
    payload = None
    if args.payload is not None:
        try:
            payload = read_payload_file(args.payload)
        except SimulatorError as exc:
            raise CliError(str(exc)) from None
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
