"""An API token bound to an admin-webhook source: email plus Atlassian API token, basic auth
against the source's site URL, so that the source's handlers can call Jira back.

Inbound stays the admin webhook: an API token cannot register dynamic webhooks. The token is
encrypted at rest (bound to the source's name) and never printed.
"""

from __future__ import annotations

import base64
import functools
import time
from dataclasses import dataclass, field

import httpx

from addon.doors import JiraClientFactory
from addon.jira import DEFAULT_TIMEOUT, JiraAuth, check_base_url
from addon.reach import site_name
from addon.store import Db, SecretBox

__all__ = ["ApiToken", "ApiTokens", "BasicTokenAuth", "api_token_client"]


@dataclass(frozen=True, slots=True)
class ApiToken:
    source_name: str
    site_url: str
    email: str
    token: str = field(repr=False)


class BasicTokenAuth(JiraAuth):
    """Signs each request with `Authorization: Basic base64(email:token)`."""

    def __init__(self, base_url: str, email: str, token: str) -> None:
        super().__init__(base_url)
        self._header = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode("ascii")

    def authorize(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = self._header


def api_token_client(token: ApiToken) -> httpx.AsyncClient:
    check_base_url(token.site_url)
    auth = BasicTokenAuth(token.site_url, token.email, token.token)
    return httpx.AsyncClient(
        base_url=auth.base_url,
        auth=auth,
        follow_redirects=False,
        timeout=DEFAULT_TIMEOUT,
        headers={"Accept": "application/json"},
    )


class ApiTokens:
    """The API tokens of sources, by source name."""

    def __init__(self, db: Db, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def bind(self, source_name: str, site_url: str, email: str, token: str) -> None:
        """Bind (or replace) the API token of `source_name`."""
        sealed = self._box.encrypt(token, source_name)
        values = (site_name(site_url), email, sealed, time.time(), source_name)
        async with self._db.connection() as conn, conn.transaction():
            changed = await conn.execute(
                "UPDATE source_api_tokens SET site_url = ?, email = ?, api_token = ?,"
                " updated_at = ? WHERE source_name = ?",
                values,
            )
            if not changed:
                await conn.execute(
                    "INSERT INTO source_api_tokens (site_url, email, api_token, updated_at,"
                    " source_name) VALUES (?, ?, ?, ?, ?)",
                    values,
                )

    async def remove(self, source_name: str) -> bool:
        return bool(
            await self._db.execute(
                "DELETE FROM source_api_tokens WHERE source_name = ?", (source_name,)
            )
        )

    async def get(self, source_name: str) -> ApiToken | None:
        row = await self._db.fetch_one(
            "SELECT source_name, site_url, email, api_token FROM source_api_tokens"
            " WHERE source_name = ?",
            (source_name,),
        )
        if row is None:
            return None
        return ApiToken(
            row["source_name"],
            row["site_url"],
            row["email"],
            self._box.decrypt(row["api_token"], row["source_name"]),
        )

    async def site_of(self, source_name: str) -> str | None:
        """The site URL the source's API token is bound to (the token itself is not decrypted)."""
        row = await self._db.fetch_one(
            "SELECT site_url FROM source_api_tokens WHERE source_name = ?", (source_name,)
        )
        return str(row["site_url"]) if row is not None else None

    async def for_site(self, site: str) -> ApiToken | None:
        """The first source's token for the site named `site` (see `site_name`)."""
        row = await self._db.fetch_one(
            "SELECT source_name FROM source_api_tokens WHERE site_url = ?"
            " ORDER BY source_name LIMIT 1",
            (site,),
        )
        return await self.get(row["source_name"]) if row is not None else None

    async def reencrypt(self) -> int:
        """Rewrite every API token under the first key; returns how many were rewritten."""
        rows = await self._db.fetch_all("SELECT source_name FROM source_api_tokens")
        changed = 0
        for row in rows:
            token = await self.get(row["source_name"])
            if token is not None:
                await self.bind(token.source_name, token.site_url, token.email, token.token)
                changed += 1
        return changed

    @staticmethod
    def factory(token: ApiToken) -> JiraClientFactory:
        return JiraClientFactory(token.site_url, functools.partial(api_token_client, token))
