"""One gunicorn-served omlsvc for the client and remote CLI tests, with the users they act as."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.commands import clean_environ, run_omlsvc
from tests.e2e.server import ADMIN_PASSWORD, RunningService, running_service

USER_PASSWORD = "s3cret-pass"
#: Short tokens (refresh across expiry in seconds), small score limits (the size errors), and a login
#: back-off that a test can trip and wait out.
CLIENT_TEST_ENVIRON = {
    "OMLSVC_TOKEN_LIFETIME": "4",
    "OMLSVC_MAX_REQUEST_BYTES": "1000000",
    "OMLSVC_MAX_RESPONSE_BYTES": "100000",
    "OMLSVC_LOGIN_FREE_ATTEMPTS": "2",
    "OMLSVC_LOGIN_MAX_DELAY": "1",
    "OMLSVC_JOB_POLL": "0.2",
}


def local_admin(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """A server-local administration command (``omlsvc users ...``) on the service's own database."""
    result = run_omlsvc(*args, env={**clean_environ(), "OMLSVC_DATA_DIR": str(data_dir)}, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result


@contextmanager
def client_test_service(
    data_dir: Path, users: tuple[str, ...] = ("alice", "bob"), environ: Mapping[str, str] | None = None
) -> Iterator[RunningService]:
    with running_service(
        data_dir, workers=1, threads=4, environ={**CLIENT_TEST_ENVIRON, **(environ or {})}
    ) as service:
        for user in users:
            local_admin(data_dir, "users", "add", user, "--password-stdin", stdin=USER_PASSWORD + "\n")
        yield service


__all__ = ["ADMIN_PASSWORD", "USER_PASSWORD", "client_test_service", "local_admin"]
