"""An Atlassian Connect add-on server for Jira: signed installs, verified webhooks, a durable
delivery log, your handlers, and a live event inspector."""

from addon.app import create_app
from addon.handlers import Event, Handlers, Origin
from addon.settings import Settings, load_settings

__all__ = ["Event", "Handlers", "Origin", "Settings", "create_app", "load_settings"]
__version__ = "0.1.0"
