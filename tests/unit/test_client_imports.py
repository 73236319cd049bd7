"""``omlsvc.client`` stands alone: it imports none of the server's heavy packages, and numpy, pandas and
Pillow only when a caller hands it their objects."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "omlsvc" / "client"
SERVER_ONLY = ("falcon", "sqlalchemy", "onnxruntime", "onnx", "gunicorn", "psycopg", "oracledb")
OPTIONAL = ("numpy", "pandas", "PIL")


def test_importing_and_using_the_client_pulls_in_no_server_package_and_no_optional_one() -> None:
    probe = (
        "import sys\n"
        "from omlsvc.client import Client, errors\n"
        "from omlsvc.client.scoring import _image_bytes, _plain\n"
        "_plain([1.0, float('nan')]); _image_bytes(b'x')\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SERVER_ONLY + OPTIONAL!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.parametrize("path", sorted(CLIENT.glob("*.py")), ids=lambda p: p.name)
def test_the_client_imports_nothing_of_the_service_but_its_own_package(path: Path) -> None:
    ours: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            ours.update(a.name for a in node.names if a.name.startswith(("omlsvc", *OPTIONAL)))
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("omlsvc", *OPTIONAL))
        ):
            ours.add(node.module)
    assert all(m == "omlsvc" or m.startswith("omlsvc.client") for m in ours), ours
