"""The one JSON error shape, and what a server-side refusal leaves in the log."""

from __future__ import annotations

import json
import logging

import pytest

from addon.errors import ServiceUnavailable
from addon.web._errors import refusal_response

KEY = "Zq3xN0pL7vWmR2sK9dYcB4hT"


def test_a_server_side_refusal_is_logged_without_the_source_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="addon.web"):
        response = refusal_response(
            ServiceUnavailable("the database is away"),
            challenge=None,
            method="POST",
            path=f"/webhooks/jira/sources/{KEY}",
        )
    assert response.status_code == 503
    assert json.loads(response.body)["reason"] == "the database is away"
    assert KEY not in caplog.text
    assert "POST /webhooks/jira/sources/Zq3x***: the database is away" in caplog.text
