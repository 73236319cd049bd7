"""``client.tasks`` and the model methods that start tasks (``import_url``, ``variants``, ``profile``,
``profiles``), and ``omlsvc models import`` / ``omlsvc tasks wait``, against a gunicorn-served omlsvc.

These endpoints are issue 15's (``/omlmod/v1/tasks/{taskId}``, ``POST /omlmod/v1/models`` with JSON,
``.../variants``, ``.../profile``, ``.../profiles``): the tests pass once that work is merged.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from omlsvc.client import Client, InvalidRequestError, TaskFailedError
from tests import modelzoo
from tests.e2e.client_service import USER_PASSWORD, client_test_service
from tests.e2e.commands import clean_environ, run_omlsvc
from tests.e2e.server import RunningService


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> modelzoo.ZooModel:
    return modelzoo.make_image_classifier_zip(tmp_path_factory.mktemp("tasks-zoo"))


@pytest.fixture(scope="module")
def files(zoo: modelzoo.ZooModel) -> Iterator[str]:
    """A plain HTTP server on loopback serving the model zip at ``/model.zip`` (and 404 elsewhere)."""
    content = zoo.zip_path.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/model.zip":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    data_dir = tmp_path_factory.mktemp("tasks-service")
    with client_test_service(
        data_dir, environ={"OMLSVC_IMPORT_ALLOW": "127.0.0.0/8", "OMLSVC_TOKEN_LIFETIME": "60"}
    ) as running:
        yield running


@pytest.fixture
def alice(service: RunningService) -> Iterator[Client]:
    with Client(service.url, username="alice", password=USER_PASSWORD) as client:
        yield client


def test_a_model_is_imported_from_a_url_and_its_task_polled(
    alice: Client, files: str, zoo: modelzoo.ZooModel
) -> None:
    content = zoo.zip_path.read_bytes()
    task = alice.models.import_url(
        f"{files}/model.zip",
        "imported",
        "1",
        model_type="ONNX_IMG",
        sha256=hashlib.sha256(content).hexdigest(),
    )
    assert task.task_id and task.status in ("QUEUED", "RUNNING", "SUCCEEDED")
    states: list[str] = []
    done = alice.tasks.wait(
        task.task_id, timeout_s=120, poll_s=0.2, progress=lambda t: states.append(t.status)
    )
    assert done.status == "SUCCEEDED" and states[-1] == "SUCCEEDED"
    assert alice.tasks.get(task.task_id).status == "SUCCEEDED"
    model_id = done.result["modelId"]
    assert alice.models.download(model_id) == content

    again = alice.models.import_url(f"{files}/model.zip", "imported", "2", model_type="ONNX_IMG", wait=True)
    assert again.status == "SUCCEEDED"
    for mid in (model_id, again.result["modelId"]):
        alice.models.delete(mid)


def test_a_failed_import_raises_task_failed_or_is_returned(alice: Client, files: str) -> None:
    task = alice.models.import_url(f"{files}/model.zip", "bad", "1", model_type="ONNX_IMG", sha256="0" * 64)
    with pytest.raises(TaskFailedError) as failed:
        alice.tasks.wait(task.task_id, timeout_s=120, poll_s=0.2)
    assert failed.value.task.status == "FAILED" and failed.value.task.message
    missing = alice.models.import_url(f"{files}/nothing.zip", "bad", "2", model_type="ONNX_IMG")
    ended = alice.tasks.wait(missing.task_id, timeout_s=120, poll_s=0.2, raise_on_failure=False)
    assert ended.status == "FAILED"
    with pytest.raises(InvalidRequestError) as refused:
        alice.models.import_url("ftp://127.0.0.1/model.zip", "bad", "3")
    assert refused.value.code in ("URL_NOT_ALLOWED", "INVALID_INPUT")


def test_variants_and_profiles_run_as_tasks(alice: Client, zoo: modelzoo.ZooModel) -> None:
    model_id = alice.models.push(zoo.zip_path, "tasked", "1", model_type="ONNX_IMG")
    variant = alice.models.variants(model_id, "optimized", "2", wait=True, timeout_s=180)
    assert variant.status == "SUCCEEDED"
    variant_id = variant.result["modelId"]
    assert alice.models.get(variant_id)["version"] == "2"

    profiled = alice.models.profile(model_id, batch_sizes=[1, 2, 4], seconds=0.2, wait=True, timeout_s=180)
    assert profiled.status == "SUCCEEDED"
    profiles = alice.models.profiles(model_id)
    assert [p["taskId"] for p in profiles] == [profiled.task_id]

    slow = alice.models.profile(model_id, batch_sizes=[1], seconds=60)
    alice.tasks.cancel(slow.task_id)
    assert (
        alice.tasks.wait(slow.task_id, timeout_s=120, poll_s=0.2, raise_on_failure=False).status == "CANCELED"
    )
    for mid in (variant_id, model_id):
        alice.models.delete(mid)


def test_the_cli_imports_a_model_and_waits_for_a_task(
    service: RunningService, files: str, tmp_path: Path
) -> None:
    environ = clean_environ(drop=("OMLSVC_", "XDG_"))
    environ.update(
        HOME=str(tmp_path), OMLSVC_URL=service.url, OMLSVC_TOKEN=service.token("alice", USER_PASSWORD)
    )

    def omlsvc(*args: str) -> subprocess.CompletedProcess[str]:
        return run_omlsvc(*args, env=environ, cwd=tmp_path, timeout=180)

    waited = omlsvc(
        "models",
        "import",
        f"{files}/model.zip",
        "--name",
        "cli_imported",
        "--version",
        "1",
        "--type",
        "ONNX_IMG",
    )
    assert waited.returncode == 0, waited.stderr
    model_id = json.loads(waited.stdout)["modelId"]
    started = omlsvc(
        "models",
        "import",
        f"{files}/model.zip",
        "--name",
        "cli_imported",
        "--version",
        "2",
        "--type",
        "ONNX_IMG",
        "--no-wait",
    )
    assert started.returncode == 0, started.stderr
    task_id = started.stdout.strip()
    ended = omlsvc("tasks", "wait", task_id, "--timeout", "120")
    assert ended.returncode == 0, ended.stderr
    assert json.loads(ended.stdout)["status"] == "SUCCEEDED"
    assert json.loads(omlsvc("tasks", "show", task_id).stdout)["taskId"] == task_id
    variant = omlsvc("models", "variant", model_id, "--kind", "optimized", "--version", "3")
    assert variant.returncode == 0, variant.stderr
    profiled = omlsvc("models", "profile", model_id, "--run", "--batch-sizes", "1,2", "--seconds", "0.2")
    assert profiled.returncode == 0, profiled.stderr
    assert len(json.loads(profiled.stdout)) == 1
    for removed in (
        model_id,
        json.loads(ended.stdout)["result"]["modelId"],
        json.loads(variant.stdout)["modelId"],
    ):
        assert omlsvc("models", "rm", removed).returncode == 0
