"""Acting as a Jira Cloud site toward a running add-on: install it, send it signed webhooks.

    addon simulate install                 # installed (RS256) then enabled (HS256)
    addon simulate install --forge         # as Forge installs it: installationId, no enabled
    addon simulate send jira:issue_updated # a signed delivery with Jira's headers
    addon simulate rotate-secret           # a re-install with a new shared secret
    addon simulate uninstall               # disabled then uninstalled (RS256)
    addon simulate events                  # what the descriptor subscribes to, what has a payload
    addon simulate source send jira:issue_updated --url URL --mode cloud-signature < secret
    addon simulate forge send avi:jira:updated:issue   # as Forge: a FIT, Forge Remote routes
    addon simulate atlassian               # a fake Atlassian (OAuth 2.0, Jira REST) on :8767
    addon simulate oauth send jira:issue_updated --site https://SITE.atlassian.net

The site (clientKey, baseUrl, RSA key) and its shared secrets live in a state file readable only
by its owner, `~/.config/jira-connect-addon/simulator.json` unless --state names another. During
install and uninstall the site's public key is served at http://127.0.0.1:8765/<kid>; start the
add-on with CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:8765 so that it fetches it from there.
"""

from addon.simulator._addon import DEFAULT_ADDON_URL, fetch_descriptor, http_client
from addon.simulator._atlassian import DEFAULT_ATLASSIAN_ADDRESS, FakeAtlassian, FakeSite
from addon.simulator._errors import SimulatorError
from addon.simulator._forge import (
    ForgeCall,
    ForgeTarget,
    forge_install,
    forge_send,
    forge_tick,
    forge_uninstall,
)
from addon.simulator._forge_keys import DEFAULT_FORGE_KEY_SERVER
from addon.simulator._forge_payloads import ENVELOPES
from addon.simulator._install import install, uninstall
from addon.simulator._jira_site import APP_ACCOUNT, Workflow, WorkSite
from addon.simulator._jira_users import FakeJiraUsers, FakeUser
from addon.simulator._jira_work import FakeJiraWork
from addon.simulator._keyserver import DEFAULT_KEY_SERVER, KeyServer, KeyServerAddress
from addon.simulator._oauth_send import delivery_token, send_oauth
from addon.simulator._payloads import example_events, read_payload_file
from addon.simulator._send import SendOptions, send, unknown_event
from addon.simulator._site import SimulatedSite
from addon.simulator._source import DEFAULT_TOKEN_HEADER, MODES, send_to_source
from addon.simulator._state import DEFAULT_SITE_URL, DEFAULT_STATE_PATH

__all__ = [
    "APP_ACCOUNT",
    "DEFAULT_ADDON_URL",
    "DEFAULT_ATLASSIAN_ADDRESS",
    "DEFAULT_FORGE_KEY_SERVER",
    "DEFAULT_KEY_SERVER",
    "DEFAULT_SITE_URL",
    "DEFAULT_STATE_PATH",
    "DEFAULT_TOKEN_HEADER",
    "ENVELOPES",
    "MODES",
    "FakeAtlassian",
    "FakeJiraUsers",
    "FakeJiraWork",
    "FakeSite",
    "FakeUser",
    "ForgeCall",
    "ForgeTarget",
    "KeyServer",
    "KeyServerAddress",
    "SendOptions",
    "SimulatedSite",
    "SimulatorError",
    "WorkSite",
    "Workflow",
    "delivery_token",
    "example_events",
    "fetch_descriptor",
    "forge_install",
    "forge_send",
    "forge_tick",
    "forge_uninstall",
    "http_client",
    "install",
    "read_payload_file",
    "send",
    "send_oauth",
    "send_to_source",
    "uninstall",
    "unknown_event",
]
