"""The scoring core stays pure: no SQL, no HTTP, and no onnxruntime session at import time."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import omlsvc.scoring
import omlsvc.scoring.images, omlsvc.scoring.inputs, omlsvc.scoring.outputs
import omlsvc.scoring.scorer, omlsvc.scoring.sessions
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("sqlalchemy", "falcon"))
print(",".join(loaded))
"""


def test_scoring_imports_neither_sql_nor_falcon() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
