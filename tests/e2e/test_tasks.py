"""Tasks through gunicorn (issue 15): imports from a local HTTP server, run by the runner thread of
``omlsvc serve`` (SQLite's default), their failures leaving nothing behind, and a task whose worker
is SIGKILLed finished by another. One service for the module, two workers."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from omlsvc.db.engine import make_engine
from omlsvc.db.schema import model_chunks, models, tasks
from tests import modelzoo
from tests.e2e.server import RunningService, running_service
from tests.httpsource import Source, serving

pytestmark = pytest.mark.slow

MAX_UPLOAD = 200_000


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    with serving() as running:
        yield running


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    environ = {
        "OMLSVC_JOB_POLL": "0.2",
        "OMLSVC_JOB_LEASE": "2",
        "OMLSVC_IMPORT_ALLOW": "127.0.0.0/8",
        "OMLSVC_IMPORT_READ_TIMEOUT": "1",
        "OMLSVC_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
    }
    with running_service(tmp_path_factory.mktemp("tasks") / "data", workers=2, environ=environ) as running:
        yield running


@pytest.fixture(scope="module")
def token(service: RunningService) -> str:
    return service.token()


def call(service: RunningService, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        service.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def submit(service: RunningService, token: str, url: str, **extra: Any) -> str:
    body = {"modelName": "iris", "version": "1", "modelType": "ONNX", "sourceUrl": url, **extra}
    status, answer = call(service, token, "POST", "/omlmod/v1/models", body)
    assert status == 202, answer
    return str(answer["taskId"])


def settled(service: RunningService, token: str, task_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    task: Any = None
    while time.monotonic() < deadline:
        try:
            _, task = call(service, token, "GET", f"/omlmod/v1/tasks/{task_id}")
        except (ConnectionError, urllib.error.URLError):  # a worker just killed held the connection
            time.sleep(0.2)
            continue
        if task["status"] not in ("QUEUED", "RUNNING"):
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not end: {task}\n{service.log()}")


def counts(service: RunningService) -> tuple[int, int]:
    engine = make_engine(f"sqlite:///{Path(service.log_path).parent / 'omlsvc.db'}")
    try:
        with engine.connect() as connection:
            return (
                connection.execute(select(func.count()).select_from(models)).scalar() or 0,
                connection.execute(select(func.count()).select_from(model_chunks)).scalar() or 0,
            )
    finally:
        engine.dispose()


def test_imports_through_gunicorn_store_the_bytes_or_fail_leaving_nothing(
    service: RunningService, token: str, source: Source, tmp_path: Path
) -> None:
    served = modelzoo.make_zipmap_classifier_zip(tmp_path).zip_path.read_bytes()
    source.files["/iris.zip"] = served
    source.files["/big.zip"] = os.urandom(MAX_UPLOAD + 1)
    source.files["/broken.zip"] = b"PK\x03\x04 not a zip at all"
    source.stall_s = 3.0
    refused = call(
        service,
        token,
        "POST",
        "/omlmod/v1/models",
        {"modelName": "x", "version": "1", "modelType": "ONNX", "sourceUrl": "http://10.0.0.1/m.zip"},
    )
    assert refused[0] == 400 and refused[1]["code"] == "URL_NOT_ALLOWED"
    failing = {
        submit(service, token, source.url("/iris.zip"), sha256="0" * 64): "sha256",
        submit(service, token, source.url("/absent.zip")): "HTTP 404",
        submit(service, token, source.url("/big.zip")): "upload limit",
        submit(service, token, source.url("/stall/iris.zip")): "stopped sending",
        submit(service, token, source.url("/broken.zip")): "model package is invalid",
    }
    for task_id, reason in failing.items():
        task = settled(service, token, task_id)
        assert task["status"] == "FAILED" and reason in task["message"], task
    assert counts(service) == (0, 0)
    assert list((Path(service.log_path).parent / "tmp").iterdir()) == []
    task = settled(service, token, submit(service, token, source.url("/iris.zip")))
    assert task["status"] == "SUCCEEDED", task
    status, content = call(service, token, "GET", f"/omlmod/v1/models/{task['result']['modelId']}/content")
    assert status == 200 and content == served
    call(service, token, "DELETE", f"/omlmod/v1/models/{task['result']['modelId']}")


def test_a_task_whose_worker_is_killed_is_finished_by_another(
    service: RunningService, token: str, source: Source, tmp_path: Path
) -> None:
    served = modelzoo.make_zipmap_classifier_zip(tmp_path).zip_path.read_bytes()
    source.files["/iris.zip"] = served
    source.slow_s = 30.0  # the first download takes long enough to kill its worker during it
    task_id = submit(service, token, source.url("/slow/iris.zip"))
    engine = make_engine(f"sqlite:///{Path(service.log_path).parent / 'omlsvc.db'}")
    try:
        deadline = time.monotonic() + 30
        holder = None
        while holder is None and time.monotonic() < deadline:
            with engine.connect() as connection:
                holder = connection.execute(select(tasks.c.claimed_by).where(tasks.c.id == task_id)).scalar()
            time.sleep(0.1)
    finally:
        engine.dispose()
    assert holder is not None, service.log()
    pid = int(holder.split(":")[1])
    assert pid in service.worker_pids()
    source.slow_s = 0.0  # the next runner's download is quick
    os.kill(pid, signal.SIGKILL)
    task = settled(service, token, task_id, timeout_s=90)
    assert task["status"] == "SUCCEEDED", (task, service.log())
    assert task["attempts"] == 2
    status, content = call(service, token, "GET", f"/omlmod/v1/models/{task['result']['modelId']}/content")
    assert status == 200 and hashlib.sha256(content).digest() == hashlib.sha256(served).digest()
