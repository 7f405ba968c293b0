"""Acting as a Jira Cloud site toward a running add-on: install it, send it signed webhooks."""

from addon.simulator._site import TOKEN_LIFETIME, SimulatedSite

__all__ = ["TOKEN_LIFETIME", "SimulatedSite"]
