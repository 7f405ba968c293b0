"""The README's first-run OAuth loop, run as written (on free ports instead of 8767 and 8000): the
fake Atlassian, the server, a consent in a "browser", a delivery, the `addon oauth` commands."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.live import ROOT, free_port

VENV = Path(sys.executable).parent.parent
MARK = "**The OAuth 2.0 door, offline.**"


def readme_loop() -> str:
    text = (ROOT / "README.md").read_text()
    first_run = text[text.index("## First run") : text.index("## Configuration")]
    assert MARK in first_run, "the first-run section shows the OAuth loop"
    block = re.search(r"```sh\n(.*?)```", first_run[first_run.index(MARK) :], re.DOTALL)
    assert block is not None
    return block.group(1)


def environment() -> dict[str, str]:
    kept = ("ADDON_", "ATLASSIAN_", "INSPECTOR_", "DATABASE_URL", "PORT", "HOST")
    return {k: v for k, v in os.environ.items() if not k.startswith(kept)}


def shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def running(line: str, cwd: Path, log: str, ready: str) -> Iterator[None]:
    path = cwd / log
    with path.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", line],
            cwd=cwd,
            env=environment(),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, path.read_text()
            try:
                httpx.get(ready, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, path.read_text()
                time.sleep(0.1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # bash and the command it runs
        process.wait(15)


def test_the_readme_oauth_loop_works_as_written(tmp_path: Path) -> None:
    fake_port, port = free_port(), free_port()
    block = readme_loop().replace("8767", str(fake_port)).replace(":8000", f":{port}")
    (tmp_path / ".venv").symlink_to(VENV)
    env_file, rest = block.split("\nEOF\n", 1)
    assert shell(env_file + "\nEOF\n", tmp_path).returncode == 0
    assert "ATLASSIAN_CLIENT_SECRET=" in (tmp_path / ".env").read_text()
    commands = [line for line in rest.splitlines() if line and not line.startswith("#")]
    fake_line, serve_line, *admin = (line.split("  #")[0].strip() for line in commands)
    assert fake_line.startswith(".venv/bin/addon simulate atlassian")
    assert serve_line.endswith(".venv/bin/addon serve")
    fake = f"http://127.0.0.1:{fake_port}"
    fake_line += f" --listen 127.0.0.1:{fake_port}"
    serve_line += f" --port {port}"
    server = f"http://127.0.0.1:{port}"

    with (
        running(fake_line, tmp_path, "fake.log", f"{fake}/_fake/sites"),
        running(serve_line, tmp_path, "serve.log", f"{server}/healthz"),
        httpx.Client(trust_env=False, timeout=15) as browser,
    ):
        started = browser.get(f"{server}/oauth/connect", auth=("admin", "change-me"))
        assert started.status_code == 303, started.text
        approved = browser.get(started.headers["location"])
        assert approved.status_code == 302
        connected = browser.get(approved.headers["location"])
        assert "is connected" in connected.text, connected.text
        [site] = browser.get(f"{fake}/_fake/sites").json()
        assert len(site["webhooks"]) == 1

        outputs = []
        for line in admin:
            if " simulate oauth send " in line:
                line += f" --atlassian {fake}"
            done = shell(line, tmp_path)
            assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
            outputs.append(done.stdout)
        sent, listed, caught, gone = outputs
        assert f"{server}/oauth/sites/{site['cloudId']}/webhook -> 204" in sent
        assert "https://example.atlassian.net" in listed and "connected" in listed
        assert "issue change(s) recorded" in caught
        assert "disconnected; webhooks deleted in Jira: [" in gone
        assert browser.get(f"{fake}/_fake/sites").json()[0]["webhooks"] == []
