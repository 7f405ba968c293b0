"""Keeping credentials out of what is stored, logged and shown."""

from __future__ import annotations

import logging

import pytest

from addon.redact import MAX_HEADER_VALUE, AccessLogFilter, mask_jwt, safe_headers


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
    assert mask_jwt(target) == masked


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
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "/x?JWT=secret", None, None)
    AccessLogFilter().filter(plain)
    assert plain.getMessage() == "/x?JWT=***"
