"""Atlassian's own Forge manifest validator (npm @forge/manifest), run with the machine's Node.js.

`bash scripts/test` installs it into tests/forge_validator (pinned by its package-lock.json).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import unavailable

VALIDATOR = Path(__file__).resolve().parent.parent / "forge_validator"


@dataclass(frozen=True)
class Validation:
    success: bool
    errors: list[dict[str, Any]]
    manifest: Any

    @property
    def messages(self) -> list[str]:
        return [f"{e['level']}: {e['message']}" for e in self.errors]


def node() -> str:
    """The Node.js binary with the validator installed beside the tests, or a skip (CI: a fail)."""
    binary = shutil.which("node")
    if binary is None:
        unavailable(
            "Node.js", "the Forge manifest validator runs on it; apt-get install nodejs npm"
        )
    assert binary is not None
    if not (VALIDATOR / "node_modules" / "@forge" / "manifest" / "package.json").is_file():
        unavailable(
            "@forge/manifest", f"run `bash scripts/test` (npm ci in {VALIDATOR}) to install it"
        )
    return binary


def validate(manifest_path: Path, *types: str) -> Validation:
    """Validate like `forge lint` (FULL unless `types` names others)."""
    completed = subprocess.run(
        [node(), str(VALIDATOR / "validate.js"), str(manifest_path), *types],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=manifest_path.parent,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    result = json.loads(completed.stdout)
    validation = Validation(result["success"], result["errors"], result["manifest"])
    assert (completed.returncode == 0) == validation.success
    return validation
