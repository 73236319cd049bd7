"""The ``omlsvc`` command in a child process, as a user at a shell runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def clean_environ(drop: tuple[str, ...] = ("OMLSVC_",)) -> dict[str, str]:
    """This process's environment without omlsvc's settings (and whatever else ``drop`` names), so
    that a command sees only the settings its test gives it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_omlsvc(
    *args: str, env: Mapping[str, str], stdin: str = "", cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``omlsvc ARGS`` with exactly ``env``, its output captured as text; the exit status is the
    test's to check."""
    return subprocess.run(
        [sys.executable, "-m", "omlsvc.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
