"""Thin callers of Atlassian's OAuth 2.0 endpoints and the Jira REST API through its gateway.

Every URL comes from the settings (`ATLASSIAN_AUTH_URL`, `ATLASSIAN_API_URL`); each call turns
Atlassian's answer into plain values, or raises `AtlassianError` (`InvalidGrant` for a refused grant)
whose message never carries a token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from addon.sites._errors import AtlassianError, InvalidGrant
from addon.sites._records import (
    Project,
    RegistrationResult,
    Resource,
    SearchPage,
    TokenGrant,
)

__all__ = ["AtlassianApi"]


class AtlassianApi:
    """One OAuth 2.0 app's calls: the token endpoint as the app, the rest as a site's user."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        auth_url: str,
        api_url: str,
        client_id: str,
        client_secret: str,
    ) -> None:
        self._client = client
        self._auth_url = auth_url.rstrip("/")
        self._api_url = api_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        return await self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )

    async def refresh(self, refresh_token: str) -> TokenGrant:
        """A new access token and a new refresh token; the one sent is spent."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token(self, grant: Mapping[str, str]) -> TokenGrant:
        body = {**grant, "client_id": self._client_id, "client_secret": self._client_secret}
        data = await self._call("POST", f"{self._auth_url}/oauth/token", json=body, grant=True)
        try:
            return TokenGrant(
                access_token=str(data["access_token"]),
                expires_in=float(data["expires_in"]),
                refresh_token=str(data["refresh_token"]) if data.get("refresh_token") else None,
                scopes=tuple(str(data.get("scope") or "").split()),
            )
        except (KeyError, TypeError, ValueError):
            raise AtlassianError("the token endpoint answered without an access token") from None

    async def accessible_resources(self, access_token: str) -> list[Resource]:
        data = await self._call(
            "GET", f"{self._api_url}/oauth/token/accessible-resources", token=access_token
        )
        if not isinstance(data, list):
            raise AtlassianError("accessible-resources did not answer a list")
        return [
            Resource(
                cloud_id=str(item["id"]),
                url=str(item["url"]).rstrip("/"),
                name=str(item.get("name") or item["url"]),
                scopes=tuple(item.get("scopes") or ()),
            )
            for item in data
            if isinstance(item, dict) and item.get("id") and item.get("url")
        ]

    def _jira(self, cloud_id: str, path: str) -> str:
        return f"{self._api_url}/ex/jira/{quote(cloud_id, safe='')}/rest/api/3/{path}"

    async def myself(self, access_token: str, cloud_id: str) -> Mapping[str, Any]:
        """The connecting user, as Jira sees them (their `timeZone`)."""
        data = await self._call("GET", self._jira(cloud_id, "myself"), token=access_token)
        if not isinstance(data, dict):
            raise AtlassianError("myself did not answer an object")
        return data

    async def projects(self, access_token: str, cloud_id: str) -> list[Project]:
        projects: list[Project] = []
        start = 0
        while True:
            page = await self._call(
                "GET",
                self._jira(cloud_id, "project/search"),
                token=access_token,
                params={"startAt": start, "maxResults": 50},
            )
            values = page.get("values") or []
            projects += [
                Project(str(p["id"]), str(p["key"]), str(p.get("name", ""))) for p in values
            ]
            if page.get("isLast", True) or not values:
                return projects
            start += len(values)

    async def register_webhooks(
        self, access_token: str, cloud_id: str, url: str, entries: Sequence[Mapping[str, Any]]
    ) -> list[RegistrationResult]:
        """Jira answers 200 even when entries failed: each result carries its own errors."""
        data = await self._call(
            "POST",
            self._jira(cloud_id, "webhook"),
            token=access_token,
            json={"url": url, "webhooks": list(entries)},
        )
        results = []
        for item in data.get("webhookRegistrationResult") or []:
            created = item.get("createdWebhookId")
            results.append(
                RegistrationResult(
                    int(created) if created is not None else None,
                    tuple(str(error) for error in item.get("errors") or ()),
                )
            )
        return results

    async def list_webhooks(self, access_token: str, cloud_id: str) -> list[Mapping[str, Any]]:
        hooks: list[Mapping[str, Any]] = []
        start = 0
        while True:
            page = await self._call(
                "GET",
                self._jira(cloud_id, "webhook"),
                token=access_token,
                params={"startAt": start, "maxResults": 100},
            )
            values = page.get("values") or []
            hooks += values
            if page.get("isLast", True) or not values:
                return hooks
            start += len(values)

    async def refresh_webhooks(
        self, access_token: str, cloud_id: str, webhook_ids: Sequence[int]
    ) -> str:
        """Extend these webhooks' life; returns Jira's new `expirationDate` (ids it forgot are
        ignored, so a caller lists them afterwards)."""
        data = await self._call(
            "PUT",
            self._jira(cloud_id, "webhook/refresh"),
            token=access_token,
            json={"webhookIds": list(webhook_ids)},
        )
        return str(data.get("expirationDate") or "")

    async def delete_webhooks(
        self, access_token: str, cloud_id: str, webhook_ids: Sequence[int]
    ) -> None:
        await self._call(
            "DELETE",
            self._jira(cloud_id, "webhook"),
            token=access_token,
            json={"webhookIds": list(webhook_ids)},
        )

    async def search(
        self,
        access_token: str,
        cloud_id: str,
        jql: str,
        *,
        fields: Sequence[str],
        next_page_token: str | None = None,
        max_results: int = 100,
    ) -> SearchPage:
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": max_results}
        if next_page_token:
            body["nextPageToken"] = next_page_token
        data = await self._call(
            "POST", self._jira(cloud_id, "search/jql"), token=access_token, json=body
        )
        token = data.get("nextPageToken")
        return SearchPage(tuple(data.get("issues") or ()), str(token) if token else None)

    async def _call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        grant: bool = False,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        what = f"{method} {url.split('?', 1)[0]}"
        try:
            response = await self._client.request(
                method, url, headers=headers, json=json, params=params
            )
        except httpx.HTTPError as exc:
            raise AtlassianError(f"{what}: {type(exc).__name__}") from None
        if response.status_code == 204 or (response.is_success and not response.content):
            return {}
        try:
            data = response.json()
        except ValueError:
            data = None
        if grant and isinstance(data, dict) and data.get("error") == "invalid_grant":
            description = str(data.get("error_description") or "the grant was refused")
            raise InvalidGrant(f"{what}: invalid_grant ({description[:200]})")
        if not response.is_success:
            raise AtlassianError(f"{what}: answered {response.status_code}{_detail(data)}")
        if data is None:
            raise AtlassianError(f"{what}: answered something that is not JSON")
        return data


def _detail(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("error_description", "error", "errorMessages", "message"):
            if data.get(key):
                return f" ({str(data[key])[:200]})"
    return ""
