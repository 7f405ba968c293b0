"""Keeping credentials out of what is stored, logged and shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from addon.redact import (
    MAX_HEADER_VALUE,
    SECRET_PATH,
    AccessLogFilter,
    mask_credentials,
    safe_headers,
)
from addon.sources import SOURCE_PATH
from tests.support.connect import read_deliveries
from tests.support.live import ROOT, LiveServer, free_port


@pytest.mark.parametrize(
    ("target", "masked"),
    [
        ("/hook?jwt=aaa.bbb.ccc", "/hook?jwt=***"),
        ("/hook?a=1&JWT=aaa.bbb.ccc&b=2", "/hook?a=1&JWT=***&b=2"),
        ("/hook?Jwt=x&jwt=y", "/hook?Jwt=***&jwt=***"),
        ("jwt=at-the-start", "jwt=***"),
        ("/hook?notjwt=kept&xjwt=kept", "/hook?notjwt=kept&xjwt=kept"),
        ("/hook?issueKey=P-1", "/hook?issueKey=P-1"),
    ],
)
def test_mask_jwt(target: str, masked: str) -> None:
    assert mask_credentials(target) == masked


KEY = "Zq3xN0pL7vWmR2sK9dYcB4hT"


@pytest.mark.parametrize(
    ("target", "masked"),
    [
        (f"/webhooks/jira/sources/{KEY}", "/webhooks/jira/sources/Zq3x***"),
        (
            f"/jira-addon/webhooks/jira/sources/{KEY}?x=1",
            "/jira-addon/webhooks/jira/sources/Zq3x***?x=1",
        ),
        (
            f"https://a.example/webhooks/jira/sources/{KEY}#f",
            "https://a.example/webhooks/jira/sources/Zq3x***#f",
        ),
        (f"/webhooks%2Fjira%2fsources%2F{KEY}", "/webhooks%2Fjira%2fsources%2FZq3x***"),
        ("/webhooks/jira/sources/ab", "/webhooks/jira/sources/ab***"),
        ("/webhooks/jira/sources/", "/webhooks/jira/sources/***"),
        ("/webhooks/jira/issue-updated?issueKey=P-1", "/webhooks/jira/issue-updated?issueKey=P-1"),
        (
            "/h?access_token=t&api_key=k&apikey=k&X-Api-Key=k&secret=s",
            "/h?access_token=***&api_key=***&apikey=***&X-Api-Key=***&secret=***",
        ),
        ("/h?password=p;signature=s&keep=1", "/h?password=***;signature=***&keep=1"),
        ("text/html; charset=utf-8", "text/html; charset=utf-8"),
    ],
)
def test_mask_credentials_masks_source_keys_and_credential_parameters(
    target: str, masked: str
) -> None:
    assert mask_credentials(target) == masked
    assert mask_credentials(masked) == masked


def test_the_secret_path_is_the_sources_path() -> None:
    assert SECRET_PATH == SOURCE_PATH


def test_safe_headers_mask_credentials_in_headers_that_repeat_the_url() -> None:
    url = f"https://addon.example.com/webhooks/jira/sources/{KEY}?jwt=aaa.bbb.ccc&issueKey=P-1"
    names = ("Referer", "X-Original-URI", "X-Forwarded-Uri", "X-Original-URL", "X-Rewrite-URL")
    kept = safe_headers([(name, url) for name in names] + [("X-Proxy-Note", "jwt=aaa.bbb.ccc")])
    masked = "https://addon.example.com/webhooks/jira/sources/Zq3x***?jwt=***&issueKey=P-1"
    assert kept == {**{name.lower(): masked for name in names}, "x-proxy-note": "jwt=***"}


def test_safe_headers_drop_every_header_that_can_carry_a_credential() -> None:
    kept = safe_headers(
        [
            ("Authorization", "JWT x"),
            ("Cookie", "s=1"),
            ("X-Hub-Signature", "sha256=..."),
            ("X-Api-Key", "k"),
            ("X-Custom-Token", "t"),
            ("X-Atlassian-Webhook-Identifier", "42"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("User-Agent", "u" * (MAX_HEADER_VALUE + 10)),
        ],
        also_drop=["x-forwarded-for"],
    )
    assert set(kept) == {"x-atlassian-webhook-identifier", "user-agent"}
    assert kept["user-agent"] == "u" * MAX_HEADER_VALUE + "…"


def test_the_access_log_filter_masks_arguments_and_messages() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s %s", ("GET", "/x?jwt=secret"), None
    )
    assert AccessLogFilter().filter(record)
    assert record.getMessage() == "GET /x?jwt=***"
    source = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s", (f"/webhooks/jira/sources/{KEY}",), None
    )
    AccessLogFilter().filter(source)
    assert source.getMessage() == "/webhooks/jira/sources/Zq3x***"
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "/x?JWT=secret", None, None)
    AccessLogFilter().filter(plain)
    assert plain.getMessage() == "/x?JWT=***"


URL_HEADERS = ("Referer", "X-Original-URI", "X-Forwarded-Uri", "X-Original-URL", "X-Rewrite-URL")


def test_a_real_server_masks_credentials_in_its_access_log_and_stored_headers(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path}/addon.db"
    with LiveServer({"DATABASE_URL": database_url}, log_dir=tmp_path) as server:
        source_url = f"{server.base_url}/webhooks/jira/sources/{KEY}?access_token=t0k3n"
        assert httpx.post(source_url, json={}, timeout=10).status_code == 404
        target = "/webhooks/jira/issue-updated?issueKey=P-1&jwt=aaa.bbb.ccc"
        headers = {name: server.base_url + target for name in URL_HEADERS}
        headers["X-Atlassian-Webhook-Identifier"] = identifier = str(uuid.uuid4())
        response = httpx.post(server.base_url + target, json={}, headers=headers, timeout=10)
        assert response.status_code == 401
        deadline = time.monotonic() + 10
        while not (
            stored := [
                row
                for row in read_deliveries(database_url, status="rejected")
                if row.webhook_id == identifier
            ]
        ):
            assert time.monotonic() < deadline, "the rejection was not stored"
            time.sleep(0.05)
    [rejected] = stored
    masked = server.base_url + "/webhooks/jira/issue-updated?issueKey=P-1&jwt=***"
    assert {name.lower(): rejected.headers[name.lower()] for name in URL_HEADERS} == {
        name.lower(): masked for name in URL_HEADERS
    }
    log = server.log()
    assert KEY not in log and "t0k3n" not in log and "aaa.bbb.ccc" not in log
    assert '"POST /webhooks/jira/sources/Zq3x***?access_token=*** HTTP/1.1" 404' in log
    assert '"POST /webhooks/jira/issue-updated?issueKey=P-1&jwt=*** HTTP/1.1" 401' in log


def test_plain_uvicorn_masks_them_in_its_own_access_log_format(tmp_path: Path) -> None:
    """`uvicorn addon.app:create_app --factory`, as the README allows: uvicorn's own formatter."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ADDON_", "INSPECTOR_"))},
        "ADDON_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite:///{tmp_path}/addon.db",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "uvicorn", "addon.app:create_app", "--factory"]
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=tmp_path, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/webhooks/jira/sources/{KEY}?jwt=aaa.bbb.ccc"
        assert httpx.post(url, json={}, timeout=10).status_code == 404
    finally:
        server.terminate()
        server.wait(15)
    log_text = log_path.read_text()
    assert KEY not in log_text and "aaa.bbb.ccc" not in log_text
    assert '"POST /webhooks/jira/sources/Zq3x***?jwt=*** HTTP/1.1" 404' in log_text
