"""`bench/run.py` says which Python to run it with, in one line, when its imports fail."""

from __future__ import annotations

import subprocess
import sys

from tests.support.live import ROOT


def run_bench(*python_options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python_options, str(ROOT / "bench" / "run.py"), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_with_the_projects_python() -> None:
    result = run_bench()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: run.py")


def test_a_python_without_the_dependencies_is_told_which_to_use() -> None:
    result = run_bench("-S")  # no site-packages: as the machine's Python without the project
    assert result.returncode != 0
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("bench: "), line
    assert f"is not installed in {sys.executable};" in line
    assert "bench/run.py" in line
