"""The OAuth 2.0 (3LO) door: Jira Cloud sites connected with an OAuth app, their tokens kept fresh,
their dynamic webhooks kept alive, gaps caught up by search, and their deliveries verified.

Plain-value logic and thin httpx callers; the routes (`/oauth/connect`, `/oauth/callback`, the
site delivery route) and background jobs are wired by the app factory.
"""

from addon.sites._api import AtlassianApi
from addon.sites._catchup import (
    CATCH_UP_EVENT,
    CATCH_UP_FIELDS,
    OVERLAP_SECONDS,
    CaughtUpIssue,
    catch_up,
    catch_up_jql,
)
from addon.sites._connect import Consent, choose_site, complete_consent, connect_site
from addon.sites._consent import (
    STATE_COOKIE,
    STATE_SECONDS,
    StateCookie,
    authorize_url,
    callback_url,
    check_state,
    start_consent,
)
from addon.sites._errors import (
    AtlassianError,
    ConnectToken,
    DeliveryRefused,
    ExpiredToken,
    FutureToken,
    InvalidGrant,
    MalformedToken,
    MissingToken,
    NeedsReconnect,
    StateExpired,
    StateForeign,
    StateMissing,
    StateRefused,
    StateUnknown,
    WrongAlgorithm,
    WrongSignature,
)
from addon.sites._records import (
    DAY,
    REFRESH_TOKEN_LIFETIME,
    REFRESH_TOKEN_WARNING,
    Project,
    RegistrationResult,
    Resource,
    SearchPage,
    Site,
    SiteStatus,
    SiteWebhook,
    TokenGrant,
)
from addon.sites._store import SiteStore
from addon.sites._tokens import TokenKeeper
from addon.sites._upkeep import SiteUpkeep, upkeep_sites
from addon.sites._verify import verify_delivery_token
from addon.sites._webhooks import (
    UpkeepPlan,
    UpkeepReport,
    WebhookKeeper,
    parse_expiration,
    plan_upkeep,
    project_filter,
)

__all__ = [
    "CATCH_UP_EVENT",
    "CATCH_UP_FIELDS",
    "DAY",
    "OVERLAP_SECONDS",
    "REFRESH_TOKEN_LIFETIME",
    "REFRESH_TOKEN_WARNING",
    "STATE_COOKIE",
    "STATE_SECONDS",
    "AtlassianApi",
    "AtlassianError",
    "CaughtUpIssue",
    "ConnectToken",
    "Consent",
    "DeliveryRefused",
    "ExpiredToken",
    "FutureToken",
    "InvalidGrant",
    "MalformedToken",
    "MissingToken",
    "NeedsReconnect",
    "Project",
    "RegistrationResult",
    "Resource",
    "SearchPage",
    "Site",
    "SiteStatus",
    "SiteStore",
    "SiteUpkeep",
    "SiteWebhook",
    "StateCookie",
    "StateExpired",
    "StateForeign",
    "StateMissing",
    "StateRefused",
    "StateUnknown",
    "TokenGrant",
    "TokenKeeper",
    "UpkeepPlan",
    "UpkeepReport",
    "WebhookKeeper",
    "WrongAlgorithm",
    "WrongSignature",
    "authorize_url",
    "callback_url",
    "catch_up",
    "catch_up_jql",
    "check_state",
    "choose_site",
    "complete_consent",
    "connect_site",
    "parse_expiration",
    "plan_upkeep",
    "project_filter",
    "start_consent",
    "upkeep_sites",
    "verify_delivery_token",
]
