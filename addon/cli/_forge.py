"""`addon forge manifest`: the Forge manifest that installs the add-on into Jira Cloud."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import descriptor
from addon.cli._common import CliError, load

__all__ = ["register"]

MANIFEST_NAME = "manifest.yml"


def register(commands: Any) -> None:
    forge = commands.add_parser("forge", help="install through Forge: the Forge app's manifest")
    actions = forge.add_subparsers(dest="forge_command", metavar="ACTION", required=True)
    manifest = actions.add_parser(
        "manifest",
        help="print the Forge manifest.yml made from the descriptor",
        description=(
            "Print (or write to DIR/manifest.yml) the Forge manifest that carries the add-on's"
            " Connect modules, made from the same settings and descriptor the server serves."
            " Needs FORGE_APP_ID (from `forge register`) and an https ADDON_BASE_URL."
        ),
    )
    manifest.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="write DIR/manifest.yml (DIR is created if missing) instead of printing it",
    )
    manifest.add_argument(
        "--force", action="store_true", help="overwrite an existing DIR/manifest.yml"
    )
    manifest.add_argument(
        "--events",
        choices=descriptor.EVENT_DOORS,
        default="connect",
        help="how Jira events arrive: connect (Connect webhooks, the default), forge (Forge"
        " triggers through Forge Remote), or both (every change then arrives twice, by two doors)",
    )
    manifest.set_defaults(run=run_manifest)


def run_manifest(args: argparse.Namespace) -> int:
    settings, rendered = load()
    if settings.forge_app_id is None:
        raise CliError(
            "FORGE_APP_ID: not set; run `forge register` and set it to the app id it gives"
            " (ari:cloud:ecosystem::app/<uuid>)"
        )
    if urlsplit(settings.base_url).scheme != "https":
        raise CliError(
            f"ADDON_BASE_URL: {settings.base_url!r} is not https; Forge reaches the add-on only"
            " over https, so set it to the add-on's public https address"
        )
    try:
        manifest = descriptor.forge_manifest(
            rendered.document, app_id=settings.forge_app_id, events=args.events
        )
    except descriptor.ManifestError as exc:
        raise CliError(
            f"{settings.descriptor_template}: cannot make a Forge manifest: {exc}"
        ) from None
    text = descriptor.to_yaml(manifest)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    path = _write(args.output, text, force=args.force)
    print(f"wrote {path}; next: cd {args.output} && forge deploy && forge install")
    return 0


def _write(directory: Path, text: str, *, force: bool) -> Path:
    path = directory / MANIFEST_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with path.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise CliError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
