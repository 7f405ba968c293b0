"""The OAuth 2.0 (3LO) door: Jira Cloud sites connected with an OAuth app, their tokens kept fresh,
their dynamic webhooks kept alive, gaps caught up by search, and their deliveries verified.

`SiteDoor` is the door (`/oauth/sites/{cloudId}/webhook`), with its consent routes (`/oauth/connect`,
`/oauth/callback`, `/oauth/choose`) and background jobs; `SiteWork` is what its jobs and the
`addon oauth` commands do; the rest is plain-value logic and thin httpx callers.
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
from addon.sites._connect import (
    CHOICE_SECONDS,
    Consent,
    choose_site,
    complete_consent,
    connect_site,
    hold_for_choice,
    resume_choice,
)
from addon.sites._consent import (
    STATE_COOKIE,
    STATE_SECONDS,
    StateCookie,
    authorize_url,
    callback_url,
    check_state,
    start_consent,
)
from addon.sites._door import SiteDoor
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
    UnknownSite,
    WrongAlgorithm,
    WrongSignature,
)
from addon.sites._facts import all_site_facts, site_facts
from addon.sites._matched import WebhookMatch, match_registrations
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
from addon.sites._work import KIND, SiteWork

__all__ = [
    "CATCH_UP_EVENT",
    "CATCH_UP_FIELDS",
    "CHOICE_SECONDS",
    "DAY",
    "KIND",
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
    "SiteDoor",
    "SiteStatus",
    "SiteStore",
    "SiteUpkeep",
    "SiteWebhook",
    "SiteWork",
    "StateCookie",
    "StateExpired",
    "StateForeign",
    "StateMissing",
    "StateRefused",
    "StateUnknown",
    "TokenGrant",
    "TokenKeeper",
    "UnknownSite",
    "UpkeepPlan",
    "UpkeepReport",
    "WebhookKeeper",
    "WebhookMatch",
    "WrongAlgorithm",
    "WrongSignature",
    "all_site_facts",
    "authorize_url",
    "callback_url",
    "catch_up",
    "catch_up_jql",
    "check_state",
    "choose_site",
    "complete_consent",
    "connect_site",
    "hold_for_choice",
    "match_registrations",
    "parse_expiration",
    "plan_upkeep",
    "project_filter",
    "resume_choice",
    "site_facts",
    "start_consent",
    "upkeep_sites",
    "verify_delivery_token",
]
