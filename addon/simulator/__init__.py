"""Acting as a Jira Cloud site toward a running add-on: install it, send it signed webhooks.

    addon simulate install                 # installed (RS256) then enabled (HS256)
    addon simulate install --forge         # as Forge installs it: installationId, no enabled
    addon simulate send jira:issue_updated # a signed delivery with Jira's headers
    addon simulate rotate-secret           # a re-install with a new shared secret
    addon simulate uninstall               # disabled then uninstalled (RS256)
    addon simulate events                  # what the descriptor subscribes to, what has a payload
    addon simulate source send jira:issue_updated --url URL --mode cloud-signature < secret
    addon simulate atlassian               # a fake Atlassian (OAuth 2.0, Jira REST) on :8767
    addon simulate oauth send jira:issue_updated --site https://SITE.atlassian.net
    addon simulate forge send avi:jira:updated:issue   # as Forge: a FIT, Forge Remote routes

The site (clientKey, baseUrl, RSA key) and its shared secrets live in a state file readable only
by its owner, `~/.config/jira-connect-addon/simulator.json` unless --state names another. During
install and uninstall the site's public key is served at http://127.0.0.1:8765/<kid>; start the
add-on with CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:8765 so that it fetches it from there.
"""

from addon.simulator._addon import (
    CONNECT_VERSION,
    DEFAULT_ADDON_URL,
    AddonDescriptor,
    Answer,
    fetch_descriptor,
    http_client,
)
from addon.simulator._atlassian import DEFAULT_ATLASSIAN_ADDRESS, FakeAtlassian, FakeSite
from addon.simulator._errors import AddonUnreachable, SimulatorError
from addon.simulator._forge import ForgeCall, ForgeTarget, forge_install, forge_send, forge_tick
from addon.simulator._forge_keys import DEFAULT_FORGE_KEY_SERVER
from addon.simulator._forge_payloads import ENVELOPES
from addon.simulator._install import (
    LifecycleRefused,
    NotInstalled,
    SeveralInstalled,
    install,
    installed_addon,
    key_server_hint,
    uninstall,
)
from addon.simulator._jira_site import APP_ACCOUNT, Workflow, WorkSite
from addon.simulator._jira_work import FakeJiraWork
from addon.simulator._keyserver import DEFAULT_KEY_SERVER, KeyServer, KeyServerAddress
from addon.simulator._oauth_send import delivery_token, post_site_delivery, send_oauth
from addon.simulator._payloads import (
    EXAMPLE_SITE_URL,
    BuiltPayload,
    build_payload,
    example_events,
    load_example,
    read_payload_file,
)
from addon.simulator._send import (
    Outcome,
    Progress,
    SendOptions,
    Summary,
    Target,
    UnknownEvent,
    delivery_targets,
    percentile,
    render_bar,
    send,
    send_deliveries,
    summarise,
    unknown_event,
    webhook_headers,
)
from addon.simulator._site import TOKEN_LIFETIME, SimulatedSite
from addon.simulator._source import (
    DEFAULT_TOKEN_HEADER,
    MODES,
    masked_source_url,
    send_to_source,
    source_headers,
)
from addon.simulator._state import (
    DEFAULT_SITE_URL,
    DEFAULT_STATE_PATH,
    Installation,
    InstallState,
    SimulatorState,
    SiteIdentity,
    StateError,
    load_state,
    save_state,
)

__all__ = [
    "APP_ACCOUNT",
    "CONNECT_VERSION",
    "DEFAULT_ADDON_URL",
    "DEFAULT_ATLASSIAN_ADDRESS",
    "DEFAULT_FORGE_KEY_SERVER",
    "DEFAULT_KEY_SERVER",
    "DEFAULT_SITE_URL",
    "DEFAULT_STATE_PATH",
    "DEFAULT_TOKEN_HEADER",
    "ENVELOPES",
    "EXAMPLE_SITE_URL",
    "MODES",
    "TOKEN_LIFETIME",
    "AddonDescriptor",
    "AddonUnreachable",
    "Answer",
    "BuiltPayload",
    "FakeAtlassian",
    "FakeJiraWork",
    "FakeSite",
    "ForgeCall",
    "ForgeTarget",
    "InstallState",
    "Installation",
    "KeyServer",
    "KeyServerAddress",
    "LifecycleRefused",
    "NotInstalled",
    "Outcome",
    "Progress",
    "SendOptions",
    "SeveralInstalled",
    "SimulatedSite",
    "SimulatorError",
    "SimulatorState",
    "SiteIdentity",
    "StateError",
    "Summary",
    "Target",
    "UnknownEvent",
    "WorkSite",
    "Workflow",
    "build_payload",
    "delivery_targets",
    "delivery_token",
    "example_events",
    "fetch_descriptor",
    "forge_install",
    "forge_send",
    "forge_tick",
    "http_client",
    "install",
    "installed_addon",
    "key_server_hint",
    "load_example",
    "load_state",
    "masked_source_url",
    "percentile",
    "post_site_delivery",
    "read_payload_file",
    "render_bar",
    "save_state",
    "send",
    "send_deliveries",
    "send_oauth",
    "send_to_source",
    "source_headers",
    "summarise",
    "uninstall",
    "unknown_event",
    "webhook_headers",
]
