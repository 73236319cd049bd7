"""omlsvc builds as a wheel and an sdist, and the wheel installs and runs in a fresh environment."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_environment_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheels = list(dist.glob("omlsvc-*.whl"))
    assert len(wheels) == 1
    assert len(list(dist.glob("omlsvc-*.tar.gz"))) == 1
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheels[0])], check=True, timeout=600)
    version = subprocess.run(
        [environment / "bin" / "omlsvc", "--version"], check=True, capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip().startswith("omlsvc ")
    site = subprocess.run(  # the nginx templates ship in the wheel
        [environment / "bin" / "omlsvc", "nginx-config"],
        env={"PATH": "/usr/bin:/bin", "OMLSVC_DATA_DIR": str(tmp_path / "data")},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"server unix:{tmp_path / 'data' / 'omlsvc.sock'};" in site.stdout
    console = subprocess.run(  # the console's files and Swagger UI's ship with it (issue 19)
        [
            python,
            "-c",
            "from omlsvc.rest.console import ConsolePage, load_assets; ConsolePage(); print(*load_assets())",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert {"app.js", "console.css", "swagger-ui-bundle.js", "swagger-ui.css"} <= set(console.stdout.split())
    # issue 21: the client and the remote commands work from the installed wheel
    client = subprocess.run(
        [python, "-c", "from omlsvc.client import Client; import requests_toolbelt, rich; print('ok')"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert client.stdout.strip() == "ok"
