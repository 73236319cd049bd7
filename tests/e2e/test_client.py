"""``omlsvc.client`` against a real gunicorn-served omlsvc: every method, paging past one page, token
refresh across expiry, and the service's error codes arriving as their exception classes."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from PIL import Image

from omlsvc.client import (
    AuthenticationError,
    Client,
    ConflictError,
    InvalidImageError,
    InvalidModelError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ScoringError,
    ServiceError,
    TokenExpiredError,
    TransportError,
)
from tests import modelzoo
from tests.e2e.client_service import ADMIN_PASSWORD, USER_PASSWORD, client_test_service
from tests.e2e.server import RunningService, free_port
from tests.e2e.test_jobs import iris_table


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("client-service")


@pytest.fixture(scope="module")
def service(data_dir: Path) -> Iterator[RunningService]:
    with client_test_service(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, modelzoo.ZooModel]:
    directory = tmp_path_factory.mktemp("zoo")
    return {
        "regressor": modelzoo.make_regressor_zip(directory),
        "classifier": modelzoo.make_zipmap_classifier_zip(directory),
        "pipeline": modelzoo.make_multi_input_pipeline_zip(directory),
        "image": modelzoo.make_image_classifier_zip(directory),
        "failing": modelzoo.make_runtime_failing_regressor_zip(directory),
    }


@pytest.fixture
def alice(service: RunningService) -> Iterator[Client]:
    with Client(service.url, username="alice", password=USER_PASSWORD) as client:
        yield client


@pytest.fixture
def admin(service: RunningService) -> Iterator[Client]:
    with Client(service.url, username="admin", password=ADMIN_PASSWORD) as client:
        yield client


def test_models_are_pushed_listed_page_by_page_read_downloaded_changed_and_deleted(
    alice: Client, zoo: dict[str, modelzoo.ZooModel], tmp_path: Path
) -> None:
    path = zoo["regressor"].zip_path
    content = path.read_bytes()
    seen: list[tuple[int, int]] = []
    ids = [alice.models.push(path, "paged", "1", namespace="DEMO", progress=lambda s, t: seen.append((s, t)))]
    assert seen and seen[-1][0] == seen[-1][1] > len(content)  # the whole form went out
    ids.append(alice.models.push(content, "paged", "2", description="from bytes", shared=True))
    with path.open("rb") as handle:
        ids.append(alice.models.push(handle, "paged", "3"))
    ids += [alice.models.push(content, "paged", str(v)) for v in (4, 5)]

    listed = list(alice.models.list(name="paged", page_size=2))  # three pages
    assert sorted(m["modelId"] for m in listed) == sorted(ids)
    assert {m["version"] for m in listed} == {"1", "2", "3", "4", "5"}

    model = alice.models.get(ids[1])
    assert (model["modelName"], model["description"], model["shared"]) == ("paged", "from bytes", True)
    assert alice.models.metadata(ids[0])["miningFunction"] == "REGRESSION"
    assert alice.models.download(ids[0]) == content
    target = alice.models.download(ids[0], tmp_path / "copy.zip")
    assert target.read_bytes() == content
    buffer = io.BytesIO()
    alice.models.download(ids[0], buffer)
    assert buffer.getvalue() == content

    alice.models.update(ids[0], namespace="OTHER", description="moved")
    assert alice.models.get(ids[0])["namespace"] == "OTHER"
    for model_id in ids:
        alice.models.delete(model_id)
    assert list(alice.models.list(name="paged", page_size=2)) == []


def test_deployments_are_made_listed_page_by_page_swapped_rolled_back_and_removed(
    alice: Client, zoo: dict[str, modelzoo.ZooModel]
) -> None:
    content = zoo["regressor"].zip_path.read_bytes()
    ids = [alice.models.push(content, "dep", str(v)) for v in range(4)]
    uris = [f"dep_{n}" for n in range(3)]
    for model_id, uri in zip(ids, uris, strict=False):
        deployed = alice.deployments.deploy(model_id, uri, score_timeout_s=5)
        assert (deployed["uri"], deployed["scoreTimeout"]) == (uri, 5)
    listed = list(alice.deployments.list(name="dep", page_size=2))
    assert sorted(d["uri"] for d in listed) == uris
    shown = alice.deployments.get("dep_0")
    assert shown["modelId"] == ids[0] and shown["metadata"]["miningFunction"] == "REGRESSION"
    document = alice.deployments.openapi("dep_0")
    assert document["openapi"].startswith("3.0") and any("dep_0" in path for path in document["paths"])

    assert alice.deployments.swap("dep_0", ids[3])["modelId"] == ids[3]
    assert alice.deployments.swap("dep_0", canary=ids[0], canary_percent=10)["canary"] == {
        "modelId": ids[0],
        "percent": 10,
    }
    assert "canary" not in alice.deployments.swap("dep_0", remove_canary=True)
    assert alice.deployments.rollback("dep_0")["modelId"] == ids[0]
    actions = [entry["action"] for entry in alice.deployments.history("dep_0", page_size=2)]
    assert actions[0] == "rollback" and actions[-1] == "deploy" and len(actions) == 5

    for uri in uris:
        alice.deployments.undeploy(uri)
    assert list(alice.deployments.list(name="dep")) == []
    for model_id in ids:
        alice.models.delete(model_id)


def test_records_arrays_frames_and_images_are_scored(
    alice: Client, zoo: dict[str, modelzoo.ZooModel]
) -> None:
    deployed = {}
    for name in ("regressor", "classifier", "pipeline", "image"):
        kind = "ONNX_IMG" if name == "image" else "ONNX"
        model_id = alice.models.push(zoo[name].zip_path, f"sc_{name}", "1", model_type=kind)
        alice.deployments.deploy(model_id, f"sc_{name}")
        deployed[name] = model_id
    x = np.asarray(zoo["regressor"].sample["float_input"], dtype=np.float32)

    by_records = alice.score("sc_regressor", [{"float_input": x}])  # numpy inside records
    by_array = alice.score("sc_regressor", x)
    by_frame = alice.score("sc_regressor", pd.DataFrame(x, columns=["a", "b", "c"]))
    assert by_records == by_array == by_frame and [set(r) for r in by_array] == [{"regression"}] * 2
    many = np.repeat(x, 1250, axis=0)  # 2500 rows in three requests of at most 1000
    assert len(alice.score("sc_regressor", many)) == 2500

    best = alice.score("sc_classifier", zoo["classifier"].sample["float_input"], top_n=1)
    assert [len(r["classifications"]) for r in best] == [1, 1]

    sample = zoo["pipeline"].sample
    frame = pd.DataFrame({"cat": sample["cat"][:, 0], "num": list(sample["num"])})
    assert [len(r["classifications"]) for r in alice.score("sc_pipeline", frame)] == [2, 2]

    png = zoo["image"].image_png
    assert png is not None
    for image in (png, Image.open(io.BytesIO(png))):
        assert len(alice.score_image("sc_image", image, top_n=2)["classifications"]) == 2

    for name, model_id in deployed.items():
        alice.deployments.undeploy(f"sc_{name}")
        alice.models.delete(model_id)


def test_a_picture_file_is_scored_from_its_path(
    alice: Client, zoo: dict[str, modelzoo.ZooModel], tmp_path: Path
) -> None:
    model_id = alice.models.push(zoo["image"].zip_path, "pic", "1", model_type="ONNX_IMG")
    alice.deployments.deploy(model_id, "pic")
    picture = tmp_path / "cat.png"
    Image.new("RGB", (20, 20), (200, 40, 40)).save(picture)
    result = alice.score_image("pic", picture)
    assert len(result["classifications"]) == 4
    alice.deployments.undeploy("pic")
    alice.models.delete(model_id)


def test_jobs_are_created_listed_run_waited_for_and_deleted(
    admin: Client, service: RunningService, data_dir: Path, zoo: dict[str, modelzoo.ZooModel]
) -> None:
    model_id = admin.models.push(zoo["classifier"].zip_path, "jobbed", "1")
    table = iris_table(data_dir)
    schedule = {"jobStartDate": "2099-01-01T00:00:00Z"}
    job_ids = [
        admin.jobs.create(
            {
                "jobName": f"job{n}",
                "jobType": "MODEL_SCORING",
                "modelId": model_id,
                "inputData": table,
                "outputData": f"out{n}",
                "supplementalColumnNames": ["id", "species"],
            },
            schedule,
        )
        for n in range(3)
    ]
    listed = list(admin.jobs.list(model_id=model_id, page_size=2))
    assert sorted(j["jobId"] for j in listed) == sorted(job_ids)
    assert admin.jobs.get(job_ids[0])["jobRequest"]["jobProperties"]["jobName"] == "job0"

    states: list[dict[str, Any]] = []
    admin.jobs.run(job_ids[0])
    finished = admin.jobs.wait(job_ids[0], timeout_s=60, poll_s=0.2, progress=states.append)
    assert finished["jobRunStatus"] == "SUCCEEDED" and finished["rowsScored"] == 150, service.log()
    assert states[-1] == finished
    assert admin.jobs.runs(job_ids[0])[0]["jobRunStatus"] == "SUCCEEDED"
    with pytest.raises(ConflictError) as stopped:
        admin.jobs.stop(job_ids[0])
    assert stopped.value.code == "CONFLICT"
    for job_id in job_ids:
        admin.jobs.delete(job_id, drop_output=True)
    assert list(admin.jobs.list(model_id=model_id)) == []
    admin.models.delete(model_id)


def test_tokens_are_refreshed_across_their_expiry_and_revoked_on_close(service: RunningService) -> None:
    """Tokens live 4 s here: clients used for 6 s keep working on refreshed tokens, while a token
    nobody refreshed expires and can no longer be refreshed."""
    client = Client(service.url, username="bob", password=USER_PASSWORD)
    given = Client(service.url, token=service.token("alice", USER_PASSWORD))
    forgotten = service.token("alice", USER_PASSWORD)
    seen, seen_given = {client.token}, {given.token}
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert list(client.models.list()) == []
        list(given.models.list())
        seen.add(client.token)
        seen_given.add(given.token)
        time.sleep(0.25)
    assert len(seen) >= 2 and len(seen_given) >= 2
    with Client(service.url, token=forgotten) as late, pytest.raises(TokenExpiredError) as expired:
        late.models.get("0" * 32)
    assert expired.value.code == "TOKEN_EXPIRED" and expired.value.status == 401

    last = client.token
    client.close()
    client.close()  # closing twice is harmless
    refused = requests.get(
        service.url + "/omlmod/v1/models", headers={"Authorization": f"Bearer {last}"}, timeout=10
    )
    assert refused.status_code == 401  # the login was revoked, not only this token
    given.close()  # a given token is not revoked: the caller owns it
    assert (
        requests.get(
            service.url + "/omlmod/v1/models", headers={"Authorization": f"Bearer {given.token}"}, timeout=10
        ).status_code
        == 200
    )


def _error(call: Any) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        call()
    return raised.value


def test_the_services_error_codes_arrive_as_their_classes(
    alice: Client, service: RunningService, zoo: dict[str, modelzoo.ZooModel], tmp_path: Path
) -> None:
    model_id = alice.models.push(zoo["classifier"].zip_path, "errs", "1", shared=True)
    alice.deployments.deploy(model_id, "errs")
    failing_id = alice.models.push(zoo["failing"].zip_path, "errs_failing", "1")
    alice.deployments.deploy(failing_id, "errs_failing")
    image_id = alice.models.push(zoo["image"].zip_path, "errs_img", "1", model_type="ONNX_IMG")
    alice.deployments.deploy(image_id, "errs_img")
    broken = modelzoo.write_zip(tmp_path / "broken.zip", {"metadata.json": b"{}"})
    rows = zoo["classifier"].sample["float_input"]
    http = alice._http  # for requests no method of the client would send

    with Client(service.url, username="bob", password=USER_PASSWORD) as bob:
        cases: list[tuple[Any, type[ServiceError], str, int]] = [
            (
                lambda: alice.deployments.deploy(model_id, "not a uri!"),
                InvalidRequestError,
                "INVALID_INPUT",
                400,
            ),
            (lambda: alice.models.push(broken, "b", "1"), InvalidModelError, "INVALID_MODEL", 400),
            (lambda: alice.score_image("errs_img", b"not an image"), InvalidImageError, "INVALID_IMAGE", 400),
            (
                lambda: alice.score("errs_failing", [{"float_input": [[500.0, 1.0, 1.0]]}]),
                ScoringError,
                "SCORING_FAILED",
                400,
            ),
            (
                lambda: alice.score("errs", np.repeat(rows, 7_500, axis=0), batch_rows=15_000),
                PayloadTooLargeError,
                "PAYLOAD_TOO_LARGE",
                413,
            ),
            (
                lambda: alice.score("errs", np.repeat(rows, 600, axis=0), batch_rows=1200),
                PayloadTooLargeError,
                "RESPONSE_TOO_LARGE",
                413,
            ),
            (lambda: bob.models.update(model_id, namespace="X"), PermissionDeniedError, "FORBIDDEN", 403),
            (lambda: alice.models.get("0" * 32), NotFoundError, "NOT_FOUND", 404),
            (lambda: alice.models.delete(model_id), ConflictError, "CONFLICT", 409),
            (lambda: http.call("PATCH", "/omlmod/v1/models"), ProtocolError, "METHOD_NOT_ALLOWED", 405),
            (
                lambda: http.call(
                    "POST", "/omlmod/v1/deployment", body=lambda: (b"x", {"Content-Type": "text/plain"})
                ),
                ProtocolError,
                "UNSUPPORTED_MEDIA_TYPE",
                415,
            ),
        ]
        for call, cls, code, status in cases:
            error = _error(call)
            assert (type(error), error.code, error.status) == (cls, code, status), error
            assert error.message and error.request_id
        assert _error(lambda: alice.models.push(broken, "b", "1")).details

    for uri, mid in (("errs", model_id), ("errs_failing", failing_id), ("errs_img", image_id)):
        alice.deployments.undeploy(uri)
        alice.models.delete(mid)


def test_failed_logins_are_unauthorized_then_too_many_requests(service: RunningService) -> None:
    failures = []
    for _ in range(4):
        with pytest.raises((AuthenticationError, RateLimitedError)) as refused:
            Client(service.url, username="alice", password="wrong-password")
        failures.append(refused.value)
    assert type(failures[0]) is AuthenticationError and failures[0].code == "UNAUTHORIZED"
    limited = failures[-1]
    assert isinstance(limited, RateLimitedError) and limited.code == "TOO_MANY_REQUESTS"
    assert limited.retry_after_s is not None and limited.retry_after_s >= 1
    time.sleep(1.2)
    Client(service.url, username="alice", password=USER_PASSWORD).close()  # forgets the failures


def test_a_service_that_is_not_there_is_a_transport_error() -> None:
    with pytest.raises(TransportError):
        Client(f"http://127.0.0.1:{free_port()}", username="a", password="b", retries=0)


PUSH_AND_MEASURE = """
import json, resource, sys, time, tracemalloc
from omlsvc.client import Client

url, password, path = sys.argv[1:4]
calls = []
with Client(url, username="alice", password=password) as client:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.monotonic()
    model_id = client.models.push(path, "large", "1", progress=lambda sent, total: calls.append((sent, total)))
    seconds = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    client.models.delete(model_id)
print(json.dumps({"calls": len(calls), "last": calls[-1], "monotonic": calls == sorted(calls),
                  "peak": peak, "grown_kib": grown_kib, "seconds": seconds}))
"""


@pytest.mark.slow
def test_a_100_mb_model_is_pushed_as_a_stream_with_progress_in_bounded_memory(
    service: RunningService, tmp_path: Path
) -> None:
    """The push runs in a fresh process so that its peak RSS is the push's own, not the test's."""
    import json
    import subprocess
    import sys

    from tests.large_models import make_large_regressor_zip

    path = make_large_regressor_zip(tmp_path, 100)
    size = path.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", PUSH_AND_MEASURE, service.url, USER_PASSWORD, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr + service.log()[-3000:]
    measured = json.loads(result.stdout)
    print(f"100 MB push: {measured}")
    sent, total = measured["last"]
    assert sent == total > size and measured["monotonic"] and measured["calls"] > 100
    assert measured["peak"] < 8 * 1024 * 1024  # Python objects alive at once during the push
    assert measured["grown_kib"] < 40 * 1024  # the process, allocator included: far below the 100 MB sent
