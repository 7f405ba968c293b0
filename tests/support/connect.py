"""Driving a running add-on the way Jira does: signed installs, lifecycle calls and webhooks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from addon.simulator import SimulatedSite
from addon.store import Delivery, DeliveryFilter, Tenant, open_store
from tests.auth.keyserver import KeyServer
from tests.support.live import LiveServer

ADDON_KEY = "test-addon"


@dataclass
class Jira:
    """A running add-on, the key server it trusts, and how to talk to it as Jira."""

    server: LiveServer
    keys: KeyServer
    database_url: str
    forge: bool = False
    """Install as Forge installs a Connect app: an installationId in `installed`, no `enabled`."""

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def site(self) -> SimulatedSite:
        """A new simulated site whose install key the key server publishes."""
        site = SimulatedSite.generate()
        if self.forge:
            site = dataclasses.replace(site, installation_id=SimulatedSite.new_installation_id())
        self.keys.keys[site.kid] = site.public_key_pem
        return site

    def lifecycle(
        self,
        site: SimulatedSite,
        event: str,
        *,
        token: str | None = None,
        payload: Mapping[str, Any] | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        target = f"/{event}"
        body = dict(payload if payload is not None else site.lifecycle_payload(event, ADDON_KEY))
        headers = {"Content-Type": "application/json"}
        if signed:
            if token is None:
                if event in ("installed", "uninstalled"):
                    token = site.install_token(addon_base_url=self.base_url, target=target)
                else:
                    token = site.token(addon_base_url=self.base_url, target=target)
            headers["Authorization"] = f"JWT {token}"
        return httpx.post(
            self.base_url + target, content=json.dumps(body), headers=headers, timeout=10
        )

    def install(self, site: SimulatedSite | None = None) -> SimulatedSite:
        site = site or self.site()
        response = self.lifecycle(site, "installed")
        assert response.status_code == 204, response.text
        return site

    def webhook(
        self,
        site: SimulatedSite,
        target: str,
        body: bytes | Mapping[str, Any] | None,
        *,
        identifier: str | None = "auto",
        retry: int | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        sent = {"Content-Type": "application/json", "X-Atlassian-Webhook-Flow": "Primary"}
        if identifier == "auto":
            identifier = str(uuid.uuid4())
        if identifier is not None:
            sent["X-Atlassian-Webhook-Identifier"] = identifier
        if retry is not None:
            sent["X-Atlassian-Webhook-Retry"] = str(retry)
        if token is None:
            token = site.token(addon_base_url=self.base_url, target=target)
        if token:
            sent["Authorization"] = f"JWT {token}"
        sent.update(headers or {})
        return httpx.post(self.base_url + target, content=content, headers=sent, timeout=10)

    def deliveries(self, **where: Any) -> list[Delivery]:
        return read_deliveries(self.database_url, **where)

    def rejected(self, webhook_id: str, *, timeout: float = 5.0) -> list[Delivery]:
        """The rejection records for `webhook_id`, waiting for the writer's background lane."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.deliveries(status="rejected") if d.webhook_id == webhook_id]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def tenant(self, client_key: str) -> Tenant | None:
        return read_tenant(self.database_url, client_key)


def read_deliveries(database_url: str, *, limit: int = 500, **where: Any) -> list[Delivery]:
    async def read() -> list[Delivery]:
        store = await open_store(database_url, encrypt_existing=False)
        try:
            return await store.deliveries.page(DeliveryFilter(**where), limit=limit)
        finally:
            await store.db.disconnect()

    return asyncio.run(read())


def read_tenant(database_url: str, client_key: str, keys: tuple[bytes, ...] = ()) -> Tenant | None:
    async def read() -> Tenant | None:
        store = await open_store(database_url, keys=keys, encrypt_existing=False)
        try:
            return await store.tenants.get(client_key)
        finally:
            await store.db.disconnect()

    return asyncio.run(read())
