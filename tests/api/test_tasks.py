"""Tasks (issue 15): importing a model from a URL, reading and canceling tasks, a task taken over when
its runner died. The runner is driven by the test (``run_until_idle``) against a local HTTP server;
the addresses of that server are loopback, which these settings allow."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
import trustme
from sqlalchemy import Engine, func, select

from omlsvc.config import Settings
from omlsvc.core.clock import utcnow
from omlsvc.core.urlsafety import AddressPolicy
from omlsvc.db.schema import model_chunks, models, tasks
from omlsvc.rest.app import create_app
from omlsvc.tasks.service import TaskService
from omlsvc.wiring import Services, build_runner
from tests import modelzoo
from tests.api.conftest import Caller, login
from tests.httpsource import Source, serving, serving_https, trust_only

MODELS = "/omlmod/v1/models"
MAX_UPLOAD = 100_000


@pytest.fixture
def settings(tmp_path: Path, database: tuple[str, Engine]) -> Settings:
    return Settings.for_tests(
        tmp_path / "data",
        database_url=database[0],
        import_allow=("127.0.0.0/8",),
        max_upload_bytes=MAX_UPLOAD,
        import_read_timeout_s=1.0,
        import_connect_timeout_s=2.0,
    )


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    with serving() as running:
        yield running


@pytest.fixture
def zoo(tmp_path: Path, source: Source) -> modelzoo.ZooModel:
    model = modelzoo.make_zipmap_classifier_zip(tmp_path)
    source.files["/iris.zip"] = model.zip_path.read_bytes()
    return model


def run_tasks(services: Services, **settings: Any) -> None:
    if settings:
        services = dataclasses.replace(services, settings=dataclasses.replace(services.settings, **settings))
    build_runner(services).run_until_idle(timeout_s=60)


def import_body(url: str, **extra: Any) -> dict[str, Any]:
    return {"modelName": "iris", "version": "1.0", "modelType": "ONNX", "sourceUrl": url, **extra}


def submit(caller: Caller, body: dict[str, Any]) -> str:
    result = caller.post(MODELS, json=body)
    assert result.status_code == 202, result.text
    assert result.headers["Location"] == f"/omlmod/v1/tasks/{result.json['taskId']}"
    assert result.json["status"] == "QUEUED"
    return str(result.json["taskId"])


def task(caller: Caller, task_id: str) -> dict[str, Any]:
    result = caller.get(f"/omlmod/v1/tasks/{task_id}")
    assert result.status_code == 200, result.text
    return dict(result.json)


def nothing_left(services: Services) -> None:
    with services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(models)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(model_chunks)).scalar() == 0
    assert list(services.models.scratch_dir.iterdir()) == []


def test_an_import_stores_the_bytes_served(
    alice: Caller, services: Services, source: Source, zoo: modelzoo.ZooModel
) -> None:
    served = zoo.zip_path.read_bytes()
    task_id = submit(
        alice, import_body(source.url("/redirect/iris.zip"), sha256=hashlib.sha256(served).hexdigest())
    )
    run_tasks(services)
    done = task(alice, task_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["progress"] == 1.0
    model_id = done["result"]["modelId"]
    assert done["result"]["sha256"] == hashlib.sha256(served).hexdigest()
    assert alice.get(f"{MODELS}/{model_id}/content").content == served
    assert alice.get(f"{MODELS}/{model_id}").json["modelName"] == "iris"
    assert {"rel": "model", "href": f"http://falconframework.org{MODELS}/{model_id}"} in done["links"]
    assert list(services.models.scratch_dir.iterdir()) == []


def test_a_private_address_is_refused_by_default(services: Services) -> None:
    strict = dataclasses.replace(services.settings, import_allow=())
    strict_tasks = TaskService(services.transactions, services.models, AddressPolicy(strict.import_allow))
    app = create_app(strict, services=dataclasses.replace(services, settings=strict, tasks=strict_tasks))
    caller = login(falcon.testing.TestClient(app), "alice")
    result = caller.post(MODELS, json=import_body("http://127.0.0.1:8080/model.zip"))
    assert result.status_code == 400, result.text
    assert result.json["code"] == "URL_NOT_ALLOWED"
    assert "127.0.0.1" in result.json["message"]


def test_failed_imports_say_why_and_leave_nothing(
    alice: Caller, services: Services, source: Source, zoo: modelzoo.ZooModel
) -> None:
    """A wrong sha256, a 404, a body past the upload limit, a server that stalls, an invalid zip."""
    source.files["/broken.zip"] = b"PK\x03\x04 this is not a zip"
    source.files["/big.zip"] = bytes(MAX_UPLOAD + 1)
    source.stall_s = 3.0
    expected = {
        submit(alice, import_body(source.url("/iris.zip"), sha256="0" * 64)): "sha256",
        submit(alice, import_body(source.url("/absent.zip"))): "HTTP 404",
        submit(alice, import_body(source.url("/big.zip"))): f"upload limit of {MAX_UPLOAD} bytes",
        submit(alice, import_body(source.url("/stall/iris.zip"))): "stopped sending for more than 1 s",
        submit(alice, import_body(source.url("/broken.zip"))): "model package is invalid",
    }
    run_tasks(services)
    for task_id, reason in expected.items():
        done = task(alice, task_id)
        assert done["status"] == "FAILED", done
        assert reason in done["message"], done["message"]
        assert "modelId" not in done["result"]
    nothing_left(services)


def test_an_import_over_https_is_fetched_only_from_a_certificate_this_host_trusts(
    alice: Caller, services: Services, zoo: modelzoo.ZooModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = trustme.CA()
    trust_only(authority, tmp_path, monkeypatch)
    served = zoo.zip_path.read_bytes()
    with (
        serving_https(authority, "127.0.0.1") as trusted,
        serving_https(trustme.CA(), "127.0.0.1") as stranger,
    ):
        trusted.files["/iris.zip"] = stranger.files["/iris.zip"] = served
        fetched = submit(alice, import_body(trusted.url("/iris.zip")))
        refused = submit(alice, import_body(stranger.url("/iris.zip")))
        run_tasks(services)

    done = task(alice, fetched)
    assert done["status"] == "SUCCEEDED", done
    assert alice.get(f"{MODELS}/{done['result']['modelId']}/content").content == served
    failed = task(alice, refused)
    assert failed["status"] == "FAILED", failed
    assert "certificate was not accepted (unable to get local issuer certificate)" in failed["message"]
    assert stranger.hits == {}


def test_a_task_is_its_submitters_alone(
    alice: Caller, bob: Caller, admin: Caller, source: Source, zoo: modelzoo.ZooModel
) -> None:
    task_id = submit(alice, import_body(source.url("/iris.zip")))
    assert bob.get(f"/omlmod/v1/tasks/{task_id}").status_code == 404
    assert bob.delete(f"/omlmod/v1/tasks/{task_id}").status_code == 404
    assert admin.get(f"/omlmod/v1/tasks/{task_id}").json["createdBy"] == "alice"
    assert alice.get("/omlmod/v1/tasks/not-a-task").status_code == 404
    assert alice.client.simulate_get(f"/omlmod/v1/tasks/{task_id}").status_code == 401


def test_deleting_a_queued_task_cancels_it(
    alice: Caller, services: Services, source: Source, zoo: modelzoo.ZooModel
) -> None:
    task_id = submit(alice, import_body(source.url("/iris.zip")))
    canceled = alice.delete(f"/omlmod/v1/tasks/{task_id}")
    assert canceled.status_code == 200
    assert canceled.json["status"] == "CANCELED"
    run_tasks(services)
    assert task(alice, task_id)["status"] == "CANCELED"
    assert alice.delete(f"/omlmod/v1/tasks/{task_id}").status_code == 409
    nothing_left(services)


def test_an_invalid_import_request_is_refused_at_once(alice: Caller) -> None:
    url = "http://127.0.0.1/x.zip"
    for body in (
        {"sourceUrl": url},
        {**import_body(url), "sha256": "xyz"},
        {**import_body(url), "shared": "yes"},
        {**import_body(url), "unexpected": 1},
        {**import_body(url), "sourceUrl": 12},
    ):
        result = alice.post(MODELS, json=body)
        assert result.status_code == 400, (body, result.text)


def test_a_task_whose_runner_died_is_taken_over(
    alice: Caller, services: Services, source: Source, zoo: modelzoo.ZooModel
) -> None:
    task_id = submit(alice, import_body(source.url("/iris.zip")))
    with services.engine.begin() as connection:  # a runner took it, then died: its lease ran out
        connection.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(
                status="RUNNING",
                claimed_by="dead:1:x",
                lease_until=utcnow() - timedelta(seconds=1),
                attempts=1,
            )
        )
    run_tasks(services)
    done = task(alice, task_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["attempts"] == 2
    assert alice.get(f"{MODELS}/{done['result']['modelId']}/content").content == zoo.zip_path.read_bytes()


def test_deleting_a_running_task_stops_it_and_leaves_nothing(
    alice: Caller, services: Services, source: Source, zoo: modelzoo.ZooModel
) -> None:
    source.slow_s = 6.0
    task_id = submit(alice, import_body(source.url("/slow/iris.zip")))
    runner = threading.Thread(target=run_tasks, args=(services,))
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while task(alice, task_id)["status"] != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        asked = alice.delete(f"/omlmod/v1/tasks/{task_id}")
        assert asked.status_code == 200 and asked.json["status"] == "RUNNING"
    finally:
        runner.join()
        source.slow_s = 0.0
    done = task(alice, task_id)
    assert done["status"] == "CANCELED", done
    nothing_left(services)


def test_a_task_that_killed_its_runners_again_and_again_is_given_up(
    alice: Caller, services: Services, source: Source, zoo: modelzoo.ZooModel
) -> None:
    task_id = submit(alice, import_body(source.url("/iris.zip")))
    with services.engine.begin() as connection:
        connection.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(
                status="RUNNING",
                claimed_by="dead:3:x",
                lease_until=utcnow() - timedelta(seconds=1),
                attempts=3,
            )
        )
    run_tasks(services)
    done = task(alice, task_id)
    assert done["status"] == "FAILED" and "given up" in done["message"], done
    nothing_left(services)
