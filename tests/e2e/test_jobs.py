"""Batch scoring end to end: ``omlsvc serve`` scores a job with its in-process runner (SQLite's
default), and the ``omlsvc jobs`` commands drive the same jobs from a shell."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omlsvc.db.engine import make_engine
from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.commands import clean_environ, run_omlsvc
from tests.e2e.server import RunningService, running_service
from tests.jobdata import InputTables, count_rows


def call(
    service: RunningService, token: str, method: str, path: str, body: Any = None, **headers: str
) -> Any:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        service.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def iris_table(data_dir: Path) -> str:
    engine = make_engine(f"sqlite:///{data_dir / 'omlsvc.db'}")
    try:
        x, _ = modelzoo._iris()
        return InputTables(engine).features("iris_in", x)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_serve_runs_a_submitted_job_with_its_own_runner(tmp_path: Path) -> None:
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    data_dir = tmp_path / "data"
    with running_service(data_dir, workers=2, environ={"OMLSVC_JOB_POLL": "0.2"}) as service:
        token = service.token()
        body, content_type = multipart(
            {"modelName": "iris", "modelType": "ONNX", "version": "1"},
            {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
        )
        model_id = call(service, token, "POST", "/omlmod/v1/models", body, **{"Content-Type": content_type})[
            "modelId"
        ]
        table = iris_table(data_dir)
        job = {
            "jobProperties": {
                "jobName": "nightly",
                "jobType": "MODEL_SCORING",
                "modelId": model_id,
                "inputData": table.upper(),
                "outputData": "scores",
                "supplementalColumnNames": ["id", "species"],
            }
        }
        job_id = call(service, token, "POST", "/omlmod/v1/jobs", job)["jobId"]
        deadline = time.monotonic() + 30
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = call(service, token, "GET", f"/omlmod/v1/jobs/{job_id.replace('$', '%24')}/runs")
            if runs and runs[0]["jobRunStatus"] not in ("PENDING", "RUNNING"):
                break
            time.sleep(0.2)
        assert runs and runs[0]["jobRunStatus"] == "SUCCEEDED", (runs, service.log())
        assert runs[0]["rowsScored"] == 150
    engine = make_engine(f"sqlite:///{data_dir / 'omlsvc.db'}")
    try:
        assert count_rows(engine, f"{job_id}_SCORES") == 150
    finally:
        engine.dispose()


def omlsvc(data_dir: Path, *args: str, stdin: str = "", **environ: str) -> subprocess.CompletedProcess[str]:
    env = {**clean_environ(), "OMLSVC_DATA_DIR": str(data_dir), **environ}
    return run_omlsvc(*args, env=env, stdin=stdin, timeout=120)


@pytest.mark.slow
def test_the_jobs_commands_create_run_show_and_remove_a_job(tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    assert (
        omlsvc(tmp_path, "users", "add", "alice", "--password-stdin", stdin="s3cret-pass\n").returncode == 0
    )
    pushed = omlsvc(
        tmp_path,
        "local",
        "models",
        "push",
        str(zoo.zip_path),
        "--name",
        "reg",
        "--version",
        "1",
        "--user",
        "alice",
    )
    assert pushed.returncode == 0, pushed.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'omlsvc.db'}")
    try:
        x, _ = modelzoo._iris()
        table = InputTables(engine).features("reg_in", np.ascontiguousarray(x[:, :3]))
    finally:
        engine.dispose()
    granted = omlsvc(tmp_path, "tables", "grant", table, "alice")  # what alice's jobs may read
    assert granted.returncode == 0, granted.stderr
    body = {
        "jobSchedule": {"jobStartDate": "2099-01-01T00:00:00Z"},
        "jobProperties": {
            "jobName": "reg",
            "jobType": "MODEL_SCORING",
            "modelId": pushed.stdout.strip(),
            "inputData": table,
            "outputData": "PRED",
            "supplementalColumnNames": ["id", "species"],
        },
    }
    created = omlsvc(tmp_path, "local", "jobs", "create", "-", "--user", "alice", stdin=json.dumps(body))
    assert created.returncode == 0, created.stderr
    job_id = created.stdout.strip()
    listed = omlsvc(tmp_path, "local", "jobs", "list", "--user", "alice").stdout.split("\t")
    assert listed[:4] == [job_id, "reg", "SCHEDULED", "0"]
    ran = omlsvc(tmp_path, "local", "jobs", "run", job_id, "--wait", "--user", "alice")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("SUCCEEDED\t150 rows")
    shown = json.loads(
        omlsvc(tmp_path, "local", "jobs", "show", job_id.replace("$", "%24"), "--user", "alice").stdout
    )
    assert shown["lastRunStatus"] == "SUCCEEDED" and shown["runs"][0]["rowsScored"] == 150
    stopped = omlsvc(tmp_path, "local", "jobs", "stop", job_id, "--user", "alice")
    assert stopped.returncode == 1 and "no run in progress" in stopped.stderr
    assert omlsvc(tmp_path, "local", "jobs", "rm", job_id, "--drop-output", "--user", "alice").returncode == 0
