"""How ``omlsvc serve`` listens: one ``SO_REUSEPORT`` socket per worker, and a taken port refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import ADMIN_PASSWORD, running_service


@pytest.mark.slow
def test_each_worker_listens_on_its_own_socket(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", workers=2) as service:
        port = service.url.rsplit(":", 1)[1]
        listing = subprocess.run(
            ["ss", "-ltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
        )
        if listing.returncode != 0:
            pytest.skip("ss is not available")
        listeners = [line for line in listing.stdout.splitlines() if line.startswith("LISTEN")]
        assert len(listeners) == 2
        for pid in service.worker_pids():
            assert sum(f"pid={pid}," in line for line in listeners) == 1


def test_a_taken_port_stops_serve_at_once_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMLSVC_")}
        env.update(
            {
                "OMLSVC_DATA_DIR": str(tmp_path / "data"),
                "OMLSVC_BIND": f"127.0.0.1:{port}",
                "OMLSVC_WORKERS": "2",
                "OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD,
            }
        )
        done = subprocess.run(
            [sys.executable, "-m", "omlsvc.cli", "serve"], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stdout + done.stderr
