"""`addon simulate source send` against a real add-on server: each mode's delivery is verified
and stored as accepted, a wrong secret is refused, and the secret never comes from argv."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from addon.simulator._source import source_headers
from addon.store import Delivery, DeliveryFilter, open_store
from tests.support.live import ROOT, LiveServer

SECRET = "a-source-secret-of-some-length"
URL = re.compile(r"URL: +(\S+)")


class Running:
    def __init__(self, server: LiveServer, database_url: str, cwd: Path) -> None:
        self.server = server
        self.database_url = database_url
        self.cwd = cwd

    def addon(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ADDON_", "DATABASE_"))},
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.database_url,
            "ADDON_BASE_URL": self.server.base_url,
        }
        return subprocess.run(
            [sys.executable, "-m", "addon", *args],
            env=env, cwd=self.cwd, input=stdin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def add_source(self, name: str, *options: str) -> str:
        added = self.addon("sources", "add", name, *options, "--secret-stdin", stdin=SECRET)
        assert added.returncode == 0, added.stderr
        found = URL.search(added.stdout)
        assert found is not None, added.stdout
        return found.group(1)

    def deliveries(self, source: str) -> list[Delivery]:
        async def go() -> list[Delivery]:
            store = await open_store(self.database_url, encrypt_existing=False)
            try:
                return await store.deliveries.page(DeliveryFilter(), limit=1000)
            finally:
                await store.db.disconnect()

        return [d for d in asyncio.run(go()) if d.origin == source]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("sources")
    database_url = f"sqlite:///{directory}/addon.db"
    with LiveServer({"DATABASE_URL": database_url}, log_dir=directory) as server:
        yield Running(server, database_url, directory)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("cloud", ("--mode", "cloud-signature")),
        ("dc", ("--mode", "header-token", "--header", "X-Jira-Secret")),
        ("dc-default", ("--mode", "header-token")),
        ("bearer", ("--mode", "bearer", "--url-template", "?issueKey=${issue.key}")),
    ],
)
def test_each_mode_is_accepted_by_the_server(
    running: Running, name: str, options: tuple[str, ...]
) -> None:
    url = running.add_source(name, *options)
    sent = running.addon(
        "simulate", "source", "send", "jira:issue_updated", "--url", url, *options[:2],
        *options[2:4] if "--header" in options else (), "--issue", "DEV-7",
        stdin=SECRET + "\n",
    )  # fmt: skip
    assert sent.returncode == 0, (sent.stdout, sent.stderr, running.server.log()[-2000:])
    assert "204 x1" in sent.stdout
    assert SECRET not in sent.stdout + sent.stderr
    key = url.split("?")[0].rsplit("/", 1)[1]
    assert key not in sent.stdout, "the source key is a credential: shown cut short"
    (delivery,) = running.deliveries(name)
    assert delivery.status.value == "accepted"
    assert delivery.event == "jira:issue_updated"
    assert delivery.payload()["issue"]["key"] == "DEV-7"
    if "--url-template" in options:
        assert dict(delivery.context) == {"issue.key": "DEV-7"}


def test_a_wrong_secret_is_refused(running: Running) -> None:
    url = running.add_source("refusing", "--mode", "cloud-signature")
    sent = running.addon(
        "simulate", "source", "send", "jira:issue_created", "--url", url,
        "--mode", "cloud-signature", stdin="not-the-secret-at-all",
    )  # fmt: skip
    assert sent.returncode == 1
    assert "401 x1" in sent.stdout
    assert [d.status.value for d in running.deliveries("refusing")] == ["rejected"]


def test_the_secret_comes_from_standard_input_only(running: Running) -> None:
    empty = running.addon(
        "simulate", "source", "send", "jira:issue_created", "--url", running.server.url,
        "--mode", "bearer", stdin="",
    )  # fmt: skip
    assert empty.returncode == 2
    assert empty.stderr.startswith("addon: the secret is read from standard input, which is empty")
    argv = running.addon(
        "simulate", "source", "send", "jira:issue_created", "--url", running.server.url,
        "--mode", "bearer", "--secret", SECRET,
    )  # fmt: skip
    assert argv.returncode == 2 and "unrecognized arguments: --secret" in argv.stderr
    header = running.addon(
        "simulate", "source", "send", "jira:issue_created", "--url", running.server.url,
        "--mode", "bearer", "--header", "X-Token", stdin=SECRET,
    )  # fmt: skip
    assert header.stderr.splitlines() == ["addon: --header applies to --mode header-token only"]


def test_the_signature_is_jiras_published_example() -> None:
    """The vector on Atlassian's admin-webhook page (secret, body, header value)."""
    headers = source_headers(
        b"Hello World!", mode="cloud-signature", secret="It's a Secret to Everybody",
        webhook_id="1",
    )  # fmt: skip
    assert headers["X-Hub-Signature"] == (
        "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"
    )
    assert headers["X-Atlassian-Webhook-Identifier"] == "1"
    assert source_headers(b"", mode="bearer", secret="s", webhook_id="1") == {
        "Authorization": "Bearer s"
    }
    assert source_headers(b"", mode="header-token", secret="s", webhook_id="1") == {
        "X-Webhook-Token": "s"
    }
