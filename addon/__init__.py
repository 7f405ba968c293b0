"""An Atlassian Connect add-on server for Jira: signed installs, verified webhooks, a durable
delivery log, your handlers, and a live event inspector."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from addon.app import create_app
    from addon.handlers import Event, Handlers, Origin
    from addon.settings import Settings, load_settings
    from addon.sync import Pushed, Sync, sync_of

__all__ = [
    "Event",
    "Handlers",
    "Origin",
    "Pushed",
    "Settings",
    "Sync",
    "create_app",
    "load_settings",
    "sync_of",
]
__version__ = "0.1.0"

_LAZY = {
    "create_app": "addon.app",
    "Event": "addon.handlers",
    "Handlers": "addon.handlers",
    "Origin": "addon.handlers",
    "Settings": "addon.settings",
    "load_settings": "addon.settings",
    "Pushed": "addon.sync",
    "Sync": "addon.sync",
    "sync_of": "addon.sync",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so `import addon.auth` stays free of the web stack."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'addon' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
