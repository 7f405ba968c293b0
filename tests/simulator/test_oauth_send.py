"""`addon simulate oauth send`: a delivery signed as Jira signs a dynamic webhook's, posted to the
URL registered at the fake Atlassian (a local receiver stands in for the add-on's route)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from addon.cli import main
from addon.simulator import FakeAtlassian, FakeSite, SimulatorError, send_oauth
from addon.sites import verify_delivery_token
from tests.support.live import free_port
from tests.support.loopback import LoopbackServer

SECRET = "client-secret-" + "z" * 30


class Receiver:
    """Records what arrives; answers 401 when told to, as the add-on refuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.app = Starlette(routes=[Route("/oauth/sites/{site}", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), json.loads(await request.body())))
        if request.path_params["site"] == "refusing":
            return JSONResponse({"error": "wrong_signature", "reason": "not ours"}, 401)
        return Response(status_code=204)


@pytest.fixture
def world() -> Iterator[tuple[FakeAtlassian, FakeSite, str, Receiver, str]]:
    fake = FakeAtlassian(client_id="cid", client_secret=SECRET)
    site = fake.add_site("acme")
    receiver = Receiver()
    with LoopbackServer(fake.app) as atlassian, LoopbackServer(receiver.app) as addon:
        yield fake, site, atlassian.url, receiver, addon.url


def register(atlassian_url: str, site: FakeSite, url: str, events: list[str]) -> int:
    with httpx.Client(base_url=atlassian_url, trust_env=False) as http:
        location = http.get(
            "/authorize",
            params={
                "audience": "api.atlassian.com",
                "client_id": "cid",
                "scope": "manage:jira-webhook",
                "redirect_uri": "http://addon.test/cb",
                "state": "s",
                "response_type": "code",
            },
        ).headers["location"]
        code = httpx.URL(location).params["code"]
        token = http.post(
            "/oauth/token",
            json={
                "client_id": "cid",
                "client_secret": SECRET,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://addon.test/cb",
            },
        ).json()["access_token"]
        answer = http.post(
            f"/ex/jira/{site.cloud_id}/rest/api/3/webhook",
            headers={"Authorization": f"Bearer {token}"},
            json={"url": url, "webhooks": [{"events": events, "jqlFilter": "project = DEV"}]},
        )
        return int(answer.json()["webhookRegistrationResult"][0]["createdWebhookId"])


def test_the_delivery_is_signed_with_the_client_secret_and_names_the_matched_webhooks(
    world: Any,
) -> None:
    fake, site, atlassian_url, receiver, addon_url = world
    hook = register(atlassian_url, site, f"{addon_url}/oauth/sites/acme", ["jira:issue_updated"])
    lines: list[str] = []
    answer = asyncio.run(
        send_oauth(
            atlassian_url=atlassian_url,
            site=site.url,
            event="jira:issue_updated",
            secret=SECRET,
            report=lines.append,
            issue="DEV-7",
        )
    )
    assert answer.ok and answer.status == 204
    assert lines and "204" in lines[0] and SECRET not in lines[0]
    [(headers, body)] = receiver.requests
    claims = verify_delivery_token(
        headers["authorization"], secret=SECRET, now=time.time(), leeway=30
    )
    assert set(claims) == {"iat", "exp"}
    assert headers["x-atlassian-webhook-identifier"]
    assert body["webhookEvent"] == "jira:issue_updated"
    assert body["matchedWebhookIds"] == [hook]
    assert body["issue"]["key"] == "DEV-7"
    assert fake.sites[site.cloud_id].url == site.url


def test_a_refusal_is_reported_and_nothing_registered_is_an_error(world: Any) -> None:
    _, site, atlassian_url, receiver, addon_url = world
    register(atlassian_url, site, f"{addon_url}/oauth/sites/refusing", ["comment_created"])
    lines: list[str] = []
    answer = asyncio.run(
        send_oauth(
            atlassian_url=atlassian_url,
            site=site.cloud_id,
            event="comment_created",
            secret="another-secret-" + "w" * 30,
            report=lines.append,
        )
    )
    assert answer.status == 401 and "wrong_signature" in lines[0]
    with pytest.raises(SimulatorError, match=re.escape("no webhook of https://acme.atlassian.net")):
        asyncio.run(
            send_oauth(
                atlassian_url=atlassian_url,
                site=site.url,
                event="jira:issue_deleted",
                secret=SECRET,
                report=lines.append,
            )
        )
    with pytest.raises(SimulatorError, match=re.escape("has no site https://nope.atlassian.net")):
        asyncio.run(
            send_oauth(
                atlassian_url=atlassian_url,
                site="https://nope.atlassian.net",
                event="jira:issue_deleted",
                secret=SECRET,
                report=lines.append,
            )
        )
    assert len(receiver.requests) == 1


def test_the_cli_reads_the_secret_from_the_settings_never_the_command_line(
    world: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, site, atlassian_url, receiver, addon_url = world
    register(atlassian_url, site, f"{addon_url}/oauth/sites/acme", ["jira:issue_created"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ATLASSIAN_CLIENT_ID", raising=False)
    monkeypatch.delenv("ATLASSIAN_CLIENT_SECRET", raising=False)
    argv = ["simulate", "oauth", "send", "jira:issue_created", "--site", site.url]
    assert main([*argv, "--atlassian", atlassian_url]) == 2
    assert "ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("ATLASSIAN_CLIENT_ID", "cid")
    monkeypatch.setenv("ATLASSIAN_CLIENT_SECRET", SECRET)
    assert main([*argv, "--atlassian", atlassian_url]) == 0
    assert "204" in capsys.readouterr().out
    [(headers, _)] = receiver.requests
    assert verify_delivery_token(
        headers["authorization"], secret=SECRET, now=time.time(), leeway=30
    )


def test_addon_simulate_atlassian_serves_the_fake_on_the_address_given(tmp_path: Any) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ATLASSIAN_CLIENT_ID": "cid",
        "ATLASSIAN_CLIENT_SECRET": SECRET,
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "addon", "simulate", "atlassian"),
            *("--listen", f"127.0.0.1:{port}", "--site", "acme", "--site", "globex"),
            *("--projects", "DEV,OPS"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        sites = None
        while sites is None and time.monotonic() < deadline and process.poll() is None:
            try:
                sites = httpx.get(f"http://127.0.0.1:{port}/_fake/sites", trust_env=False).json()
            except httpx.TransportError:
                time.sleep(0.05)
        assert sites is not None, "the fake Atlassian did not start"
        assert [s["url"] for s in sites] == [
            "https://acme.atlassian.net",
            "https://globex.atlassian.net",
        ]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"ATLASSIAN_AUTH_URL=http://127.0.0.1:{port}" in output
    assert SECRET not in output
