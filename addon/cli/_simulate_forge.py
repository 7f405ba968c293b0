"""`addon simulate forge`: act as Forge toward the add-on's Forge Remote routes."""

from __future__ import annotations

import argparse
from typing import Any

import descriptor
from addon.cli._common import CliError, load
from addon.cli._simulate import _address, _common, _report, _run, _state_path
from addon.simulator import (
    DEFAULT_FORGE_KEY_SERVER,
    ENVELOPES,
    ForgeCall,
    ForgeTarget,
    KeyServerAddress,
    forge_install,
    forge_send,
    forge_tick,
    forge_uninstall,
)

__all__ = ["register_forge"]


def register_forge(actions: Any) -> None:
    forge = actions.add_parser(
        "forge",
        help="act as Forge: Forge Remote calls with invocation tokens (issue 18)",
        description=(
            "Act as Forge toward the add-on's Forge Remote routes (ADDON/forge/events,"
            " ADDON/forge/tick, ADDON/forge/uninstall): each call carries a Forge Invocation Token for FORGE_APP_ID,"
            " signed with the simulated Forge key, which is served as a JWKS at"
            f" http://{DEFAULT_FORGE_KEY_SERVER}/.well-known/jwks.json while the command runs"
            " (start the add-on with FORGE_JWKS_URL set to it). The installation is that of"
            " `addon simulate install --forge` when there is one."
        ),
    )
    forge_actions = forge.add_subparsers(
        dest="simulate_forge_command", metavar="ACTION", required=True
    )
    install_parser = forge_actions.add_parser(
        "install", help="send avi:forge:installed:app, as Forge does after an install"
    )
    send_parser = forge_actions.add_parser(
        "send", help="send a Forge product event (e.g. avi:jira:updated:issue)"
    )
    send_parser.add_argument("event", metavar="EVENT", help="e.g. avi:jira:updated:issue")
    send_parser.add_argument(
        "--retry",
        action="store_true",
        help="send it again with a retryContext (retryCount 1), as Forge retries",
    )
    send_parser.add_argument(
        "--envelope",
        choices=ENVELOPES,
        default="top",
        help="top: the event is the body (default); payload: the event is under `payload`",
    )
    tick_parser = forge_actions.add_parser(
        "tick", help="call the hourly scheduled trigger (it brings a fresh system token)"
    )
    uninstall_parser = forge_actions.add_parser(
        "uninstall", help="call the preUninstall endpoint (the add-on erases the system token)"
    )
    for parser, run in (
        (install_parser, run_forge_install),
        (send_parser, run_forge_send),
        (tick_parser, run_forge_tick),
        (uninstall_parser, run_forge_uninstall),
    ):
        _common(parser)
        parser.add_argument(
            "--key-server",
            type=_address,
            default=KeyServerAddress.parse(DEFAULT_FORGE_KEY_SERVER),
            metavar="HOST:PORT",
            help=f"where to serve the Forge JWKS during the call (default {DEFAULT_FORGE_KEY_SERVER})",
        )
        parser.add_argument(
            "--system-token",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="send an app system token in x-forge-oauth-system (default: on)",
        )
        parser.set_defaults(run=run)


def _forge_target(args: argparse.Namespace) -> ForgeTarget:
    settings, _ = load()
    if settings.forge_app_id is None:
        raise CliError(
            "FORGE_APP_ID: not set; the simulated Forge signs its tokens for the app id the"
            " add-on is configured with (ari:cloud:ecosystem::app/<uuid>)"
        )
    return ForgeTarget(
        state_path=_state_path(args),
        app_id=settings.forge_app_id,
        addon_url=args.addon,
        key_server=args.key_server,
    )


def _forge_call(args: argparse.Namespace) -> ForgeCall:
    return ForgeCall(
        envelope=getattr(args, "envelope", "top"),
        retry=getattr(args, "retry", False),
        system_token=args.system_token,
    )


def run_forge_install(args: argparse.Namespace) -> int:
    target, call = _forge_target(args), _forge_call(args)
    answers = _run(lambda: forge_install(target, _report, call))
    return 0 if all(answer.ok for answer in answers) else 1


def run_forge_send(args: argparse.Namespace) -> int:
    if descriptor.product_event(args.event) is None:
        known = ", ".join(event.name for event in descriptor.product_events()[:5])
        raise CliError(f"{args.event!r} is not a Forge product event (e.g. {known}, ...)")
    target, call = _forge_target(args), _forge_call(args)
    answers = _run(lambda: forge_send(target, args.event, _report, call))
    return 0 if all(answer.ok for answer in answers) else 1


def run_forge_tick(args: argparse.Namespace) -> int:
    target, call = _forge_target(args), _forge_call(args)
    answers = _run(lambda: forge_tick(target, _report, call))
    return 0 if all(answer.ok for answer in answers) else 1


def run_forge_uninstall(args: argparse.Namespace) -> int:
    target, call = _forge_target(args), _forge_call(args)
    answers = _run(lambda: forge_uninstall(target, _report, call))
    return 0 if all(answer.ok for answer in answers) else 1
