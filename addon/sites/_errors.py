"""Every way the OAuth door refuses: a delivery's token, a consent callback's state; and Atlassian's
own refusals of this server's calls."""

from __future__ import annotations

from addon.errors import BadRequest, NotFound, Unauthorized

__all__ = [
    "AtlassianError",
    "ConnectToken",
    "DeliveryRefused",
    "ExpiredToken",
    "FutureToken",
    "InvalidGrant",
    "MalformedToken",
    "MissingToken",
    "NeedsReconnect",
    "StateExpired",
    "StateForeign",
    "StateMissing",
    "StateRefused",
    "StateUnknown",
    "UnknownSite",
    "WrongAlgorithm",
    "WrongSignature",
]


class DeliveryRefused(Unauthorized):
    """A site delivery whose bearer token is not one Jira signed with this app's client secret."""

    code = "delivery_refused"


class MissingToken(DeliveryRefused):
    code = "missing_token"


class MalformedToken(DeliveryRefused):
    code = "malformed_token"


class WrongAlgorithm(DeliveryRefused):
    code = "wrong_algorithm"


class ConnectToken(DeliveryRefused):
    """A Connect JWT (it carries a `qsh`): signed with a tenant's shared secret, not for this door."""

    code = "connect_token"


class WrongSignature(DeliveryRefused):
    code = "wrong_signature"


class ExpiredToken(DeliveryRefused):
    code = "expired_token"


class FutureToken(DeliveryRefused):
    """`iat` lies further ahead than the leeway allows."""

    code = "future_token"


class UnknownSite(NotFound):
    """A delivery, or a command, naming a site this server has never connected."""

    code = "unknown_site"


class StateRefused(BadRequest):
    """A consent callback that cannot be tied to a consent this server started in this browser."""

    code = "state_refused"


class StateMissing(StateRefused):
    code = "state_missing"


class StateForeign(StateRefused):
    """The state is not the one this browser's cookie holds (another browser started it)."""

    code = "state_foreign"


class StateUnknown(StateRefused):
    """No consent under way has this state: never issued, or already used."""

    code = "state_unknown"


class StateExpired(StateRefused):
    code = "state_expired"


class AtlassianError(Exception):
    """Atlassian answered a call with an error (or did not answer); the message says which."""


class InvalidGrant(AtlassianError):
    """The token endpoint refused the grant (`invalid_grant`): only a new consent can help."""


class NeedsReconnect(AtlassianError):
    """The site's grant was refused earlier; nothing is called for it until it is reconnected."""
