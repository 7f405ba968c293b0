"""The Forge door: Forge Remote calls (a Forge Invocation Token, Forge events, the scheduled
trigger) verified into plain values for the pipeline, and the app's system token."""

from addon.forge._call import ROUTES, ForgeCall, verify_call
from addon.forge._client import NoSystemToken, SystemTokenAuth, forge_client
from addon.forge._door import ForgeDoor
from addon.forge._errors import (
    IsolatedCloudUnsupported,
    MalformedAuthorization,
    MalformedEvent,
    MalformedSystemToken,
    MissingEventType,
    MissingInvocationToken,
    NotAnInvocationToken,
    WrongAudience,
)
from addon.forge._events import ForgeEvent, read_event
from addon.forge._facts import forge_site_facts
from addon.forge._installations import (
    SILENT_AFTER,
    ForgeInstallation,
    ForgeInstallations,
    SiteDetails,
)
from addon.forge._system_token import SYSTEM_TOKEN_HEADER, SystemToken, read_system_token
from addon.forge._verify import FIT_ISSUER, Invocation, bearer_token, verify_invocation

__all__ = [
    "FIT_ISSUER",
    "ROUTES",
    "SILENT_AFTER",
    "SYSTEM_TOKEN_HEADER",
    "ForgeCall",
    "ForgeDoor",
    "ForgeEvent",
    "ForgeInstallation",
    "ForgeInstallations",
    "Invocation",
    "IsolatedCloudUnsupported",
    "MalformedAuthorization",
    "MalformedEvent",
    "MalformedSystemToken",
    "MissingEventType",
    "MissingInvocationToken",
    "NoSystemToken",
    "NotAnInvocationToken",
    "SiteDetails",
    "SystemToken",
    "SystemTokenAuth",
    "WrongAudience",
    "bearer_token",
    "forge_client",
    "forge_site_facts",
    "read_event",
    "read_system_token",
    "verify_call",
    "verify_invocation",
]
