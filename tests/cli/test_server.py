"""`addon serve` as a user starts it: the base URL it derives, the port it checks, the handlers it
imports from the working directory, and one line for each thing that stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable
from tests.support.live import ROOT, free_port

ADDON = Path(sys.executable).parent / "addon"

HANDLERS = """\
from addon import Event, Handlers

handlers = Handlers()


@handlers.on("jira:issue_updated")
async def issue_updated(event: Event) -> None:
    print(event.name)
"""


def environment(**extra: str) -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ADDON_", "INSPECTOR_", "DATABASE_URL", "PORT", "HOST"))
    }
    return {**kept, "PYTHONPATH": str(ROOT), **extra}


def addon_command() -> list[str]:
    """The console script, as the README runs it (its folder, not the working one, is on the
    import path, unlike `python -m addon`)."""
    if not ADDON.exists():
        unavailable("the `addon` console script", f"{ADDON} (pip install -e . creates it)")
    return [str(ADDON)]


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*addon_command(), *args],
        env=environment(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Served:
    """`addon serve ...` in a process of its own, until the test is done with it."""

    def __init__(self, *args: str, cwd: Path, port: int, **env: str) -> None:
        self.port = port
        self.log_path = cwd / f"serve-{port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*addon_command(), "serve", "--port", str(port), *args],
                env=environment(**env),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log()
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except httpx.HTTPError:
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def test_serve_derives_the_base_url_from_the_port_it_serves(tmp_path: Path) -> None:
    port = free_port()
    server = Served(cwd=tmp_path, port=port)
    try:
        server.wait_until_serving()
        served = httpx.get(f"http://127.0.0.1:{port}/atlassian-connect.json").json()
        assert served["baseUrl"] == f"http://127.0.0.1:{port}"
    finally:
        server.stop()
    assert f"descriptor: http://127.0.0.1:{port}/atlassian-connect.json" in server.log()
    assert "localhost:8000" not in server.log()


def test_a_configured_base_url_is_kept(tmp_path: Path) -> None:
    port = free_port()
    server = Served(cwd=tmp_path, port=port, ADDON_BASE_URL="https://addon.example.com")
    try:
        server.wait_until_serving()
        served = httpx.get(f"http://127.0.0.1:{port}/atlassian-connect.json").json()
        assert served["baseUrl"] == "https://addon.example.com"
    finally:
        server.stop()


def test_serving_every_address_needs_the_base_url(tmp_path: Path) -> None:
    result = run("serve", "--host", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("addon: ADDON_BASE_URL: set it to the public URL"), line
    assert "0.0.0.0" in line


@pytest.mark.parametrize("command", [("descriptor",), ("sources", "list", "--json")])
def test_commands_that_serve_nothing_use_port_or_8000(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    database = f"sqlite:///{tmp_path}/a.db"
    if command[0] == "sources":
        added = subprocess.run(
            [*addon_command(), "sources", "add", "s", "--mode", "bearer"],
            env=environment(DATABASE_URL=database),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
    default = run(*command, cwd=tmp_path, DATABASE_URL=database)
    assert default.returncode == 0, default.stderr
    assert "http://127.0.0.1:8000" in default.stdout
    assert "localhost" not in default.stdout
    with_port = run(*command, cwd=tmp_path, DATABASE_URL=database, PORT="8123")
    assert "http://127.0.0.1:8123" in with_port.stdout


@pytest.mark.parametrize(
    "variable", ["ADDON_BASE_URL", "DATABASE_URL", "PORT", "ADDON_ENCRYPTION_KEY", "ADDON_HANDLERS"]
)
def test_an_empty_setting_is_refused_with_one_line(tmp_path: Path, variable: str) -> None:
    result = run("descriptor", cwd=tmp_path, **{variable: ""})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"addon: {variable}: is set but empty; give it a value or unset it"
    ]


def test_a_port_in_use_is_one_line_before_start_up(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"addon: port {port} on 127.0.0.1 is already in use (another `addon serve`?);"
        " stop that server, or choose another port with --port"
    ]
    assert not (tmp_path / "addon.db").exists(), "nothing is started or created"


def test_a_missing_sqlite_folder_is_one_line(tmp_path: Path) -> None:
    database = tmp_path / "no" / "such" / "x.db"
    result = run(
        "serve", "--port", str(free_port()), cwd=tmp_path, DATABASE_URL=f"sqlite:///{database}"
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"addon: DATABASE_URL: the folder {database.parent} of the SQLite file {database}"
        " does not exist; create it, or choose another path"
    ]


def test_an_unopenable_sqlite_file_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    result = run(
        "serve", "--port", str(free_port()), cwd=tmp_path, DATABASE_URL=f"sqlite:///{folder}"
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"addon: DATABASE_URL: cannot open the SQLite file {folder}: "), line


def write_handlers(folder: Path) -> None:
    package = folder / "myapp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handlers.py").write_text(HANDLERS)


def test_handlers_import_from_the_working_directory(tmp_path: Path) -> None:
    write_handlers(tmp_path)
    port = free_port()
    server = Served(cwd=tmp_path, port=port, ADDON_HANDLERS="myapp.handlers:handlers")
    try:
        server.wait_until_serving()
    finally:
        server.stop()
    assert "No module named" not in server.log()


def test_handlers_import_from_app_dir(tmp_path: Path) -> None:
    write_handlers(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    missing = run(
        "serve", "--port", str(free_port()), cwd=elsewhere,
        ADDON_HANDLERS="myapp.handlers:handlers",
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.startswith("addon: ADDON_HANDLERS: cannot import 'myapp.handlers'")
    port = free_port()
    server = Served(
        "--app-dir", str(tmp_path / "project"), "--workers", "2",
        cwd=elsewhere, port=port, ADDON_HANDLERS="myapp.handlers:handlers",
    )  # fmt: skip
    try:
        server.wait_until_serving()
    finally:
        server.stop()
    assert "No module named" not in server.log()
    worker = subprocess.run(
        [*addon_command(), "worker", "--app-dir", "nowhere"],
        env=environment(ADDON_HANDLERS="myapp.handlers:handlers"),
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 2
    assert worker.stderr.splitlines() == ["addon: --app-dir: 'nowhere' is not a folder"]


def test_an_address_that_cannot_be_listened_on_is_one_line(tmp_path: Path) -> None:
    out_of_range = run("serve", "--port", "70000", cwd=tmp_path)
    assert out_of_range.returncode == 2
    assert out_of_range.stderr.splitlines()[-1] == (
        "addon serve: error: argument --port: 70000 is outside 0..65535"
    )
    unknown = run(
        "serve", "--host", "nosuchhost.invalid", "--port", str(free_port()), cwd=tmp_path,
        ADDON_BASE_URL="https://addon.example.com",
    )  # fmt: skip
    assert unknown.returncode == 2
    (line,) = unknown.stderr.splitlines()
    assert line.startswith("addon: cannot listen on nosuchhost.invalid port "), line
