"""``omlsvc serve`` on a fresh data directory: the README's first command, end to end."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.server import running_service


@pytest.mark.slow
def test_serve_creates_admin_and_answers_oracles_token_curl(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", workers=2) as service:
        assert len(service.worker_pids()) == 2
        token = service.token()
        request = urllib.request.Request(
            service.url + "/omlmod/v1", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["version"] == "v1"
        assert "Created user 'admin'" in service.log()
        assert (tmp_path / "data" / "jwt_secret").stat().st_mode & 0o777 == 0o600
