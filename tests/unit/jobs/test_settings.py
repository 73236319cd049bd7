"""The runner's settings: OMLSVC_JOB_* variables, and where an in-process runner starts by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from omlsvc.config import Settings, SettingsError
from omlsvc.jobs.options import options_from, runs_in_process


def test_job_variables_are_read_and_typed(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "OMLSVC_DATA_DIR": str(tmp_path),
            "OMLSVC_JOB_RUNNER": "off",
            "OMLSVC_JOB_CHUNK_ROWS": "2000",
            "OMLSVC_JOB_LEASE": "30",
            "OMLSVC_JOB_POLL": "0.5",
        }
    )
    assert settings.job_runner is False
    options = options_from(settings)
    assert (options.chunk_rows, options.lease_s, options.poll_s) == (2000, 30.0, 0.5)


@pytest.mark.parametrize(("name", "value"), [("OMLSVC_JOB_POLL", "0"), ("OMLSVC_JOB_RUNNER", "sometimes")])
def test_a_bad_job_variable_is_named(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path), name: value})


def test_only_sqlite_gets_an_in_process_runner_unless_asked() -> None:
    assert runs_in_process("sqlite:////tmp/x.db", None) is True
    assert runs_in_process("postgresql+psycopg://u@h/db", None) is False
    assert runs_in_process("postgresql+psycopg://u@h/db", True) is True
    assert runs_in_process("sqlite:////tmp/x.db", False) is False
