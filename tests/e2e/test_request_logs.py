"""Real gunicorn with ``OMLSVC_LOG_FORMAT=json``: every line of its log is one JSON object, and every
line a request causes, its access line included, carries the request id the client gave."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.server import ADMIN_PASSWORD, RunningService, running_service
from tests.e2e.test_jobs import iris_table


def call(
    service: RunningService,
    token: str,
    method: str,
    path: str,
    request_id: str,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, str]:
    """(status, the X-Request-ID answered) of one request."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type, "X-Request-Id": request_id}
    request = urllib.request.Request(service.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status, response.headers["X-Request-ID"]
    except urllib.error.HTTPError as error:
        error.read()
        return error.code, error.headers["X-Request-ID"]


def log_entries(service: RunningService, last_request_id: str) -> list[dict[str, Any]]:
    """Every line of the log once the access line of ``last_request_id`` is in (gunicorn writes it
    just after the answer), each parsed as one JSON object (a line that is not fails the test)."""
    deadline = time.monotonic() + 10
    while f'"request_id":"{last_request_id}"' not in service.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    entries = []
    for number, line in enumerate(service.log().splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"log line {number} is not JSON: {line!r}")
        assert isinstance(entry, dict), line
        assert {"timestamp", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    return entries


@pytest.mark.slow
def test_every_line_is_json_and_every_line_of_a_request_carries_its_id(tmp_path: Path) -> None:
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    score_body = json.dumps({"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]}).encode()
    environ = {"OMLSVC_LOG_FORMAT": "json", "OMLSVC_LOG_LEVEL": "INFO", "OMLSVC_JOB_POLL": "0.2"}
    data_dir = tmp_path / "data"
    with running_service(data_dir, workers=1, environ=environ) as service:
        token = service.token()
        body, content_type = multipart(
            {"modelName": "house", "modelType": "ONNX", "version": "1.0"},
            {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
        )
        request = urllib.request.Request(
            service.url + "/omlmod/v1/models",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            model_id = json.load(response)["modelId"]
        deploy = json.dumps({"modelId": model_id, "uri": "house"}).encode()
        assert call(service, token, "POST", "/omlmod/v1/deployment", "deploy-1", deploy)[0] == 201

        score = call(service, token, "POST", "/omlmod/v1/deployment/house/score", "score-1", score_body)
        missing = call(service, token, "POST", "/omlmod/v1/deployment/nowhere/score", "missing-1", score_body)
        broken, broken_type = multipart(
            {"modelName": "broken", "modelType": "ONNX", "version": "1.0"},
            {"modelData": ("m.zip", b"PK\x03\x04 this is not a zip archive")},
        )
        invalid = call(service, token, "POST", "/omlmod/v1/models", "upload-1", broken, broken_type)
        job = {
            "jobProperties": {
                "jobName": "nightly",
                "jobType": "MODEL_SCORING",
                "modelId": model_id,
                "inputData": iris_table(data_dir).upper(),
                "outputData": "scores",
                "supplementalColumnNames": ["id", "species"],
            }
        }
        assert call(service, token, "POST", "/omlmod/v1/jobs", "job-1", json.dumps(job).encode())[0] == 201
        deadline = time.monotonic() + 30
        while '"message":"run ' not in service.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        hostile = call(service, token, "GET", "/omlmod/v1/models", "evil id\twith tab")
        entries = log_entries(service, hostile[1])  # what the service wrote while it served
    assert score == (200, "score-1")
    assert missing == (404, "missing-1")
    assert invalid[0] == 400 and invalid[1] == "upload-1"
    assert hostile[0] == 200 and hostile[1] != "evil id\twith tab"

    access = {e["request_id"]: e for e in entries if e["logger"] == "gunicorn.access"}
    expected = {
        "score-1": ("/omlmod/v1/deployment/{uri}/score", 200),
        "missing-1": ("/omlmod/v1/deployment/{uri}/score", 404),
        "upload-1": ("/omlmod/v1/models", 400),
        "deploy-1": ("/omlmod/v1/deployment", 201),
        hostile[1]: ("/omlmod/v1/models", 200),
    }
    for request_id, (route, status) in expected.items():
        line = access[request_id]
        assert (line["route"], line["status"], line["user"]) == (route, status, "admin"), line
        assert isinstance(line["duration"], int) and line["duration"] >= 0
    # each line that names one of these requests' ids (or their routes' paths) carries the id
    for entry in entries:
        text = json.dumps(entry)
        for request_id in ("score-1", "missing-1", "upload-1", "deploy-1"):
            if request_id in entry["message"]:
                assert entry.get("request_id") == request_id, entry
        [created] = [e for e in entries if e["message"].endswith(" created") and e["logger"] == "omlsvc.jobs"]
    assert created["request_id"] == "job-1" and created["user"] == "admin"
    assert created["route"] == "/omlmod/v1/jobs"
    [ended] = [e for e in entries if " ended " in e["message"]]
    assert ended["message"].endswith("ended SUCCEEDED")
    assert (ended["job_id"], ended["run_id"]) == (created["job_id"], ended["run_id"])
    assert ended["run_id"] in ended["message"] and "request_id" not in ended

    assert ADMIN_PASSWORD not in text and token not in text
    assert "evil id" not in service.log()
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own lines are JSON too


@pytest.mark.slow
def test_ctrl_c_with_a_validation_child_waiting_leaves_only_json_lines(tmp_path: Path) -> None:
    """Ctrl-C on ``omlsvc serve`` signals its whole process group: master, workers, and the validation
    forkserver with the idle child it keeps ready after an upload. None of them may answer with a
    plain-text KeyboardInterrupt traceback ("Process ForkServerProcess-2: ...") in the JSON log."""
    import os
    import signal
    import subprocess

    zoo = modelzoo.make_regressor_zip(tmp_path)
    environ = {"OMLSVC_LOG_FORMAT": "json", "OMLSVC_LOG_LEVEL": "INFO", "OMLSVC_GRACEFUL_TIMEOUT": "10"}
    with running_service(tmp_path / "srv", workers=1, environ=environ, own_process_group=True) as service:
        token = service.token()
        body, content_type = multipart(
            {"modelName": "house", "modelType": "ONNX", "version": "1.0"},
            {"modelData": ("house.zip", zoo.zip_path.read_bytes())},
        )
        assert call(service, token, "POST", "/omlmod/v1/models", "upload-1", body, content_type)[0] == 201
        group = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-g", str(service.process.pid)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "multiprocessing.forkserver" in group  # the validation forkserver and its ready child
        os.killpg(service.process.pid, signal.SIGINT)
        assert service.process.wait(timeout=30) == 0
    lines = service.log().splitlines()
    assert any('"message":"Shutting down: Master"' in line for line in lines)
    for number, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except ValueError:
            pytest.fail(f"log line {number} is not JSON: {line!r}")
