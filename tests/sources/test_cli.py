"""`addon sources add|list|rotate|remove`, run in-process against a real database."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from addon.cli import main
from addon.cli._sources import parse_duration
from addon.store import generate_key, open_store
from addon.store._crypto import PREFIX

BASE_URL = "https://addon.example.com/jira"
URL = re.compile(r"URL: +(https://addon\.example\.com/jira/webhooks/jira/sources/([A-Za-z0-9_-]+))")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `addon ...` with this test's database; returns (exit code, stdout, stderr)."""
    import os

    for name in list(os.environ):
        if name.startswith(("ADDON_", "INSPECTOR_", "DATABASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADDON_BASE_URL", BASE_URL)
    monkeypatch.setenv("ADDON_ENCRYPTION_KEY", generate_key())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/addon.db")

    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def row(name: str) -> dict[str, Any]:
    import os

    async def fetch() -> dict[str, Any]:
        store = await open_store(os.environ["DATABASE_URL"], encrypt_existing=False)
        try:
            found = await store.db.fetch_one("SELECT * FROM sources WHERE name = ?", (name,))
            assert found is not None
            return dict(found)
        finally:
            await store.db.disconnect()

    return asyncio.run(fetch())


def secret_in(output: str, label: str) -> str:
    match = re.search(rf"{label}: +(\S+)$", output, re.MULTILINE)
    assert match is not None, output
    return match.group(1)


def test_add_cloud_prints_what_to_paste_into_jira(cli: Any) -> None:
    code, out, err = cli("sources", "add", "jira-cloud", "--mode", "cloud-signature",
                         "--events", "jira:issue_updated,comment_created")  # fmt: skip
    assert code == 0, err
    url = URL.search(out)
    assert url is not None, out
    key = url.group(2)
    assert len(key) >= 32
    secret = secret_in(out, "Secret")
    assert len(secret) >= 40
    assert 'do not click "Generate secret"' in out
    assert 'Exclude body" unchecked' in out
    assert "tick jira:issue_updated, comment_created" in out
    assert "shown only now" in out
    stored = row("jira-cloud")
    assert stored["source_key"] == key
    assert stored["mode"] == "cloud-signature"
    assert json.loads(stored["events"]) == ["jira:issue_updated", "comment_created"]
    assert stored["secret"].startswith(PREFIX) and secret not in stored["secret"]

    code, listed, _ = cli("sources", "list")
    assert code == 0
    assert "jira-cloud" in listed and url.group(1) in listed
    assert secret not in listed and stored["secret"] not in listed
    code, listed_json, _ = cli("sources", "list", "--json")
    (entry,) = json.loads(listed_json)
    assert entry["name"] == "jira-cloud" and entry["url"] == url.group(1)
    assert entry["header"] == "X-Hub-Signature"
    assert entry["events"] == ["jira:issue_updated", "comment_created"]
    assert secret not in listed_json and 'secret"' not in listed_json.replace("previous_secret", "")


def test_add_header_token_stores_only_a_hash(cli: Any) -> None:
    code, out, err = cli(
        "sources", "add", "jira-dc", "--mode", "header-token", "--header", "X-Jira-Token"
    )
    assert code == 0, err
    token = secret_in(out, "Header:  X-Jira-Token")
    assert "every delivery must carry this header" in out
    assert "tick the events you want; every event is handled" in out
    assert 'Exclude body" unchecked' in out
    stored = row("jira-dc")
    assert stored["secret"] == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert stored["header"] == "X-Jira-Token"
    _, listed, _ = cli("sources", "list")
    assert token not in listed and stored["secret"] not in listed
    assert "header-token (X-Jira-Token)" in listed and "all events" in listed


def test_add_bearer_with_secret_from_stdin(cli: Any) -> None:
    mine = "my-own-bearer-secret-0123456789"
    code, out, err = cli("sources", "add", "automation", "--mode", "bearer", "--secret-stdin",
                         stdin=mine + "\n")  # fmt: skip
    assert code == 0, err
    assert f"Authorization: Bearer {mine}" in out
    assert row("automation")["secret"] == "sha256:" + hashlib.sha256(mine.encode()).hexdigest()


def test_rotate_with_and_without_grace(cli: Any) -> None:
    _, out, _ = cli("sources", "add", "jira-cloud", "--mode", "cloud-signature")
    first = secret_in(out, "Secret")
    code, out, err = cli("sources", "rotate", "jira-cloud", "--grace", "10m")
    assert code == 0, err
    second = secret_in(out, "Secret")
    assert second != first
    assert "keeps working until" in out and "shown only now" in out
    stored = row("jira-cloud")
    assert stored["previous_secret"] is not None
    assert stored["previous_expires_at"] - stored["rotated_at"] == pytest.approx(600)
    _, listed, _ = cli("sources", "list")
    assert "previous secret accepted until" in listed
    assert first not in listed and second not in listed

    code, out, _ = cli("sources", "rotate", "jira-cloud")
    assert code == 0
    third = secret_in(out, "Secret")
    assert "stopped working now" in out
    stored = row("jira-cloud")
    assert stored["previous_secret"] is None and stored["previous_expires_at"] is None
    _, listed, _ = cli("sources", "list")
    assert "previous secret" not in listed and third not in listed


def test_rotate_token_source_prints_the_header(cli: Any) -> None:
    cli("sources", "add", "jira-dc", "--mode", "header-token")
    code, out, _ = cli(
        "sources", "rotate", "jira-dc", "--secret-stdin", stdin="rotated-token-0123456789"
    )
    assert code == 0
    assert "X-Webhook-Token: rotated-token-0123456789" in out
    digest = hashlib.sha256(b"rotated-token-0123456789").hexdigest()
    assert row("jira-dc")["secret"] == f"sha256:{digest}"


def test_remove(cli: Any) -> None:
    cli("sources", "add", "jira-dc", "--mode", "bearer")
    code, out, _ = cli("sources", "remove", "jira-dc")
    assert code == 0 and "removed source jira-dc" in out
    code, _, err = cli("sources", "remove", "jira-dc")
    assert code == 1 and "no source named 'jira-dc'" in err
    _, listed, _ = cli("sources", "list")
    assert "no sources" in listed


@pytest.mark.parametrize(
    ("argv", "stdin", "code", "message"),
    [
        (("rotate", "nope"), None, 1, "no source named 'nope'"),
        (("add", "x", "--mode", "cloud-signature", "--header", "X-T"), None, 2, "--header"),
        (("add", "bad name", "--mode", "bearer"), None, 2, "source name"),
        (("add", "x", "--mode", "bearer", "--secret-stdin"), "", 2, "standard input is empty"),
        (("add", "x", "--mode", "bearer", "--secret-stdin"), "short\n", 2, "16 to 512"),
    ],
)
def test_errors_are_one_line(
    cli: Any, argv: tuple[str, ...], stdin: str | None, code: int, message: str
) -> None:
    result, out, err = cli("sources", *argv, stdin=stdin)
    assert result == code
    assert message in err and err.count("\n") == 1 and err.startswith("addon: ")
    assert out == ""


def test_duplicate_name_refused(cli: Any) -> None:
    cli("sources", "add", "jira", "--mode", "bearer")
    code, out, err = cli("sources", "add", "jira", "--mode", "cloud-signature")
    assert code == 2 and "already exists" in err and out == ""


def test_bad_grace_is_a_usage_error(cli: Any) -> None:
    cli("sources", "add", "jira", "--mode", "bearer")
    with pytest.raises(SystemExit) as exited:
        cli("sources", "rotate", "jira", "--grace", "ten minutes")
    assert exited.value.code == 2


def test_unknown_event_warns_with_a_suggestion(cli: Any) -> None:
    code, _, err = cli("sources", "add", "x", "--mode", "bearer", "--events", "issue_updated")
    assert code == 0
    assert "warning: 'issue_updated' is not a known Jira event" in err
    assert "jira:issue_updated" in err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("45", 45),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "1.5h", "-1s", "10 m", "h10"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_add_warns_when_secrets_would_be_stored_in_plaintext_on_https(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADDON_ENCRYPTION_KEY")
    code, out, err = cli("sources", "add", "jira", "--mode", "bearer")
    assert code == 0 and "Added source jira" in out
    [warning] = err.splitlines()
    assert warning.startswith("addon: warning: ADDON_ENCRYPTION_KEY is not set")
    assert "ADDON_BASE_URL is https" in warning


def test_add_says_nothing_more_with_a_key(cli: Any) -> None:
    code, _, err = cli("sources", "add", "jira", "--mode", "bearer")
    assert code == 0 and err == ""
