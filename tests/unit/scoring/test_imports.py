"""Scoring stays pure: no SQL, no HTTP, no other capability's code, and no onnxruntime session at
import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
import omlsvc.scoring
import omlsvc.scoring.images, omlsvc.scoring.inputs, omlsvc.scoring.outputs
import omlsvc.scoring.scorer, omlsvc.scoring.sessions, omlsvc.scoring.service, omlsvc.scoring.files
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("sqlalchemy", "falcon"))
print(",".join(loaded))
"""


def test_scoring_imports_neither_sql_nor_falcon() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


SCORING = Path(__file__).resolve().parents[3] / "omlsvc" / "scoring"
#: Scoring stands beside the stores: it reaches deployments and model bytes through its ModelSource.
NOT_FOR_SCORING = (
    "omlsvc.deployment",
    "omlsvc.repository",
    "omlsvc.jobs",
    "omlsvc.auth",
    "omlsvc.db",
    "omlsvc.rest",
    "omlsvc.wiring",
    "sqlalchemy",
    "falcon",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(SCORING.glob("*.py")), ids=lambda path: path.name)
def test_scoring_imports_no_other_capability_no_store_and_no_transport(path: Path) -> None:
    assert not {name for name in _imports(path) if name.startswith(NOT_FOR_SCORING)}
