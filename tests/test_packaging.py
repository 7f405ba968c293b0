"""The project installs with pip as a wheel and runs from it, templates and descriptor included."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx

from tests.support.live import ROOT, free_port


def test_wheel_install_serves_pages_and_descriptor(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "absent from the `packages` configuration" not in built.stderr + built.stdout
    [wheel] = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    examples = {p.name for p in (ROOT / "addon" / "_data" / "examples").iterdir()}
    assert {f"addon/_data/examples/{name}" for name in examples} <= names
    packages = {
        path.parent.relative_to(ROOT).as_posix()
        for top in ("addon", "descriptor")
        for path in (ROOT / top).rglob("__init__.py")
    }
    assert {f"{package}/__init__.py" for package in packages} <= names
    assert "addon/_templates/inspector/delivery.html" in names
    assert "addon/_templates/static/inspector.js" in names
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "addon" / "_templates" / "landing.html").is_file()
    assert (target / "descriptor" / "default.json.j2").is_file()
    port = free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ADDON_", "INSPECTOR_", "DATABASE_URL"))
        },
        # The wheel's files first, then the dependencies; `-S` below keeps the checkout's editable
        # install (a .pth file) out, so a module the wheel lacks fails here as it would for a user.
        "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
        "PORT": str(port),
    }
    workdir = tmp_path / "run"
    workdir.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-S", "-m", "addon", "serve"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                landing = httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert landing.status_code == 200
        assert "/atlassian-connect.json" in landing.text
        descriptor = httpx.get(f"http://127.0.0.1:{port}/atlassian-connect.json").json()
        assert descriptor["modules"]["webhooks"]
        assert httpx.get(f"http://127.0.0.1:{port}/static/addon.css").status_code == 200
    finally:
        process.terminate()
        process.wait(15)
