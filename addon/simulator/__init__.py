"""Acting as a Jira Cloud site toward a running add-on: install it, send it signed webhooks.

    addon simulate install                 # installed (RS256) then enabled (HS256)
    addon simulate install --forge         # as Forge installs it: installationId, no enabled
    addon simulate send jira:issue_updated # a signed delivery with Jira's headers
    addon simulate rotate-secret           # a re-install with a new shared secret
    addon simulate uninstall               # disabled then uninstalled (RS256)
    addon simulate events                  # what the descriptor subscribes to, what has a payload
    addon simulate source send jira:issue_updated --url URL --mode cloud-signature < secret

The site (clientKey, baseUrl, RSA key) and its shared secrets live in a state file readable only
by its owner, `~/.config/jira-connect-addon/simulator.json` unless --state names another. During
install and uninstall the site's public key is served at http://127.0.0.1:8765/<kid>; start the
add-on with CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:8765 so that it fetches it from there.
"""

from addon.simulator._addon import DEFAULT_ADDON_URL, fetch_descriptor, http_client
from addon.simulator._errors import SimulatorError
from addon.simulator._install import install, uninstall
from addon.simulator._keyserver import DEFAULT_KEY_SERVER, KeyServer, KeyServerAddress
from addon.simulator._payloads import example_events, read_payload_file
from addon.simulator._send import SendOptions, send, unknown_event
from addon.simulator._site import SimulatedSite
from addon.simulator._source import DEFAULT_TOKEN_HEADER, MODES, send_to_source
from addon.simulator._state import DEFAULT_SITE_URL, DEFAULT_STATE_PATH

__all__ = [
    "DEFAULT_ADDON_URL",
    "DEFAULT_KEY_SERVER",
    "DEFAULT_SITE_URL",
    "DEFAULT_STATE_PATH",
    "DEFAULT_TOKEN_HEADER",
    "MODES",
    "KeyServer",
    "KeyServerAddress",
    "SendOptions",
    "SimulatedSite",
    "SimulatorError",
    "example_events",
    "fetch_descriptor",
    "http_client",
    "install",
    "read_payload_file",
    "send",
    "send_to_source",
    "uninstall",
    "unknown_event",
]
