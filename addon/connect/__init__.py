"""The Connect door: the add-on's descriptor, its lifecycle callbacks, its webhooks signed with
each tenant's shared secret, and a Jira client that signs calls back with a Connect JWT.

    async with client_for_tenant(tenant, settings.key) as jira:
        response = await jira.get("/rest/api/3/issue/PRJ-1")
"""

from addon.connect._client import ConnectJwtAuth, client_for_tenant, connect_token, jira_client
from addon.connect._descriptor import DescriptorProblem, RenderedDescriptor, render_for
from addon.connect._door import ConnectDoor
from addon.connect._lifecycle import Lifecycle
from addon.connect._tenancy import TenantCache

__all__ = [
    "ConnectDoor",
    "ConnectJwtAuth",
    "DescriptorProblem",
    "Lifecycle",
    "RenderedDescriptor",
    "TenantCache",
    "client_for_tenant",
    "connect_token",
    "jira_client",
    "render_for",
]
