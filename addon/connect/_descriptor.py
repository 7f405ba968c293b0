"""The add-on's own descriptor: rendered from the configured template and checked before start-up."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import descriptor
from addon.settings import Settings

__all__ = ["DescriptorProblem", "RenderedDescriptor", "render_for"]

logger = logging.getLogger("addon.descriptor")


class DescriptorProblem(ValueError):
    """The descriptor cannot be served: the message names the module and the problem."""


@dataclass(frozen=True, slots=True)
class RenderedDescriptor:
    document: dict[str, Any]
    json: bytes
    webhooks: tuple[descriptor.WebhookModule, ...]
    lifecycle: dict[str, str]
    warnings: tuple[str, ...]


def template_context(settings: Settings) -> dict[str, object]:
    return {
        "base_url": settings.base_url,
        "key": settings.key,
        "name": settings.name,
        "description": "Receives Jira webhooks, verifies them, keeps them in a durable log and runs handlers.",
        "vendor_name": settings.name,
        "vendor_url": settings.base_url,
        "email_api": settings.jira_email_api,
        "sync_write": settings.sync_write,
    }


def render_for(settings: Settings) -> RenderedDescriptor:
    """Render and check; raises DescriptorProblem on any error, logs each warning."""
    path = settings.descriptor_template
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DescriptorProblem(f"ADDON_DESCRIPTOR_TEMPLATE: cannot read {path}: {exc}") from None
    try:
        document = descriptor.render_descriptor(source, template_context(settings))
    except descriptor.DescriptorError as exc:
        raise DescriptorProblem(f"{path}: {exc}") from None
    result = descriptor.check_descriptor(document)
    if result.errors:
        raise DescriptorProblem(f"{path}: " + "; ".join(result.errors))
    for warning in result.warnings:
        logger.warning("descriptor: %s", warning)
    if document.get("key") != settings.key:
        raise DescriptorProblem(
            f"{path}: the descriptor's key {document.get('key')!r} is not ADDON_KEY {settings.key!r}"
        )
    try:
        webhooks = descriptor.parse_webhooks(document)
    except descriptor.DescriptorError as exc:
        raise DescriptorProblem(f"{path}: {exc}") from None
    return RenderedDescriptor(
        document=document,
        json=json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n",
        webhooks=webhooks,
        lifecycle=descriptor.lifecycle_paths(document),
        warnings=result.warnings,
    )
