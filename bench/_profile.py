"""Sampling the server under load with py-spy, and reading the samples as "where the time goes"."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Profile", "record", "summarise"]

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    by_self: list[tuple[str, int]]
    by_total: list[tuple[str, int]]
    by_area: list[tuple[str, int]]


def py_spy() -> str | None:
    """py-spy on PATH, or beside this Python (`pip install py-spy` into a venv not activated)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def record(pid: int, seconds: float, output: Path, *, rate: int = 200) -> subprocess.Popen[bytes]:
    """Start py-spy on `pid` for `seconds`, collapsed stacks (one line per stack) into `output`."""
    return subprocess.Popen(
        [
            py_spy() or "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(output),
            "--threads",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/addon/", "/descriptor/", "/lib/python3"):
        if marker in path:
            path = (
                path.split(marker, 1)[1]
                if marker != "/addon/"
                else "addon/" + path.split(marker, 1)[1]
            )
            break
    return f"{match['function']} ({path})"


AREAS = [
    ("sqlite (database thread)", ("aiosqlite/core.py", "_InThread.")),
    ("access log", ("logging/", "uvicorn/logging.py", "redact.py")),
    ("token verification", ("addon/auth/", "jwt/")),
    ("delivery writer", ("addon/store/",)),
    (
        "ingest (match, record, normalise)",
        ("addon/ingest.py", "descriptor/", "addon/incoming.py", "addon/redact.py"),
    ),
    ("web layer (body, endpoint, middleware)", ("addon/web/",)),
    ("starlette", ("starlette/",)),
    ("uvicorn http", ("uvicorn/protocols",)),
    ("event loop / asyncio", ("uvloop", "asyncio/")),
]


def summarise(path: Path, top: int = 25) -> Profile:
    """Self and inclusive samples per function, and samples per area of the code (innermost
    frame of ours wins: a json.loads called by the ingest counts as ingest)."""
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        if frames and frames[0].startswith(("thread", "process")):
            frames = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not frames:
            continue
        samples += count
        names = [_name(f) for f in frames]
        self_counts[names[-1]] += count
        for name in set(names):
            total_counts[name] += count
        area = "other"
        for frame in reversed(frames):
            hit = next((a for a, marks in AREAS if any(m in frame for m in marks)), None)
            if hit is not None:
                area = hit
                break
        areas[area] += count
    return Profile(
        samples, self_counts.most_common(top), total_counts.most_common(top), areas.most_common()
    )


def render(profile: Profile) -> str:
    def pct(n: int) -> str:
        return f"{100 * n / max(1, profile.samples):5.1f}%"

    lines = [f"{profile.samples} samples", "", "By area (innermost known frame):"]
    lines += [f"  {pct(n)}  {area}" for area, n in profile.by_area]
    lines += ["", "Self time:"]
    lines += [f"  {pct(n)}  {name}" for name, n in profile.by_self]
    lines += ["", "Inclusive time:"]
    lines += [f"  {pct(n)}  {name}" for name, n in profile.by_total]
    return "\n".join(lines)
