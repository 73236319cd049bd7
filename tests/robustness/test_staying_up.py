"""Staying up (issue 12), through real gunicorn: model runs end, memory has a ceiling, a recycled
worker loses no request that had not started, and killed workers leave no process behind."""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import modelzoo
from tests.e2e.server import RunningService
from tests.robustness import hostile
from tests.robustness.conftest import DEPLOYMENTS
from tests.robustness.served import call, memory_kib, serving, store_and_deploy, upload

GIB = 1024 * 1024 * 1024
HOUSE = {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]]}]}


def _score(service: RunningService, token: str, uri: str, body: dict[str, object], timeout: float = 60):
    return call(service, token, "POST", f"{DEPLOYMENTS}/{uri}/score", body, timeout=timeout)


@pytest.mark.slow
def test_a_hanging_model_answers_503_within_its_limit_while_other_deployments_keep_scoring(
    tmp_path: Path,
) -> None:
    with serving(tmp_path / "data", workers=1, threads=4, environ={"OMLSVC_SCORE_TIMEOUT": "3"}) as service:
        token = service.token()
        store_and_deploy(service, token, hostile.looping_regressor_zip(tmp_path).read_bytes(), "looping")
        store_and_deploy(service, token, modelzoo.make_regressor_zip(tmp_path).zip_path.read_bytes(), "house")
        (worker,) = service.worker_pids()

        def hang() -> tuple[int, str, float]:
            started = time.monotonic()
            answer = _score(service, token, "looping", {"inputRecords": [{"x": [[1e12]]}]})
            return answer.status, answer.body["code"], time.monotonic() - started

        with ThreadPoolExecutor(3) as clients:
            hung = [clients.submit(hang) for _ in range(3)]
            time.sleep(0.5)  # three of the worker's four threads are now in the Loop
            while not all(future.done() for future in hung):
                started = time.monotonic()
                assert _score(service, token, "house", HOUSE, timeout=5).status == 200
                assert call(service, None, "GET", "/health/live", timeout=5).status == 200
                assert time.monotonic() - started < 2
            outcomes = [future.result() for future in hung]
        assert [(status, code) for status, code, _ in outcomes] == [(503, "SCORING_TIMEOUT")] * 3
        assert all(elapsed < 3 + 3 for _, _, elapsed in outcomes), outcomes
        assert _score(service, token, "looping", {"inputRecords": [{"x": [[5.0]]}]}).status == 200
        assert service.worker_pids() == [worker]


@pytest.mark.slow
def test_a_deploy_whose_warm_up_hangs_answers_400_and_leaves_no_deployment(tmp_path: Path) -> None:
    """1.5 million iterations take a few seconds: within validation's trial-run limit, far beyond the
    one-second scoring limit the warm-up has."""
    environ = {"OMLSVC_SCORE_TIMEOUT": "1", "OMLSVC_VALIDATION_CPU_SECONDS": "120"}
    with serving(tmp_path / "data", workers=1, environ=environ) as service:
        token = service.token()
        stored = upload(
            service, token, hostile.looping_regressor_zip(tmp_path, 1_500_000).read_bytes(), name="slow"
        )
        assert stored.status == 201, stored.body
        started = time.monotonic()
        refused = call(
            service,
            token,
            "POST",
            "/omlmod/v1/deployment",
            {"modelId": stored.body["modelId"], "uri": "slow"},
        )
        assert time.monotonic() - started < 1 + 5
        assert refused.status == 400, refused.body
        assert refused.body["details"] == [
            "running the model once on a dummy batch took longer than the 1 s limit"
        ]
        assert call(service, token, "GET", f"{DEPLOYMENTS}/slow").status == 404
        assert call(service, token, "GET", DEPLOYMENTS).body["items"] == []


@pytest.mark.slow
def test_runaway_allocations_and_oversized_images_answer_4xx_under_the_memory_ceiling(tmp_path: Path) -> None:
    ceiling = GIB
    environ = {"OMLSVC_MAX_WORKER_MEMORY": str(ceiling)}  # onnxruntime may hold half of it
    with serving(tmp_path / "data", workers=1, threads=2, environ=environ) as service:
        token = service.token()
        store_and_deploy(
            service, token, hostile.allocating_regressor_zip(tmp_path).read_bytes(), "allocating"
        )
        zoo = modelzoo.make_image_classifier_zip(tmp_path)
        store_and_deploy(service, token, zoo.zip_path.read_bytes(), "pets", "ONNX_IMG")
        (worker,) = service.worker_pids()

        for side, status in ((20_000, 400), (8_000, 200), (20_000, 400), (100_000, 400), (100, 200)):
            answer = _score(service, token, "allocating", {"inputRecords": [{"x": [[float(side)]]}]})
            assert answer.status == status, (side, answer.body)
            if status == 400:
                assert answer.body["code"] == "MEMORY_LIMIT_EXCEEDED", answer.body
        for oversized in (hostile.huge_target_image_zip(tmp_path), hostile.fixed_giant_image_zip(tmp_path)):
            refused = upload(service, token, oversized.read_bytes(), name="oversized", modelType="ONNX_IMG")
            assert refused.status == 400, refused.body
            assert any(
                "OMLSVC_MAX_IMAGE_TARGET_PIXELS" in p or "at most 16384" in p for p in refused.body["details"]
            )
        photo = base64.b64encode(hostile.png_bomb(7000)).decode()  # 49 megapixels, 147 MB decoded
        one = _score(service, token, "pets", {"inputRecords": [{"image": photo}]})
        assert one.status == 200, one.body
        two = _score(service, token, "pets", {"inputRecords": [{"image": photo}] * 2})
        assert two.status == 413, two.body
        assert "OMLSVC_MAX_REQUEST_PIXELS" in two.body["message"]

        assert service.worker_pids() == [worker], "the worker was recycled: it went over its ceiling"
        assert memory_kib(worker)["VmHWM"] * 1024 < ceiling, memory_kib(worker)


MIGRATE_REQUESTS = Path("/proc/sys/net/ipv4/tcp_migrate_req")


@pytest.fixture
def migrating_listeners() -> Iterator[None]:
    """What the README asks of a host serving directly: a connection queued on a worker's own socket
    when it closes goes to a sibling's socket instead of being reset (the kernel's part of the job)."""
    before = MIGRATE_REQUESTS.read_text()
    MIGRATE_REQUESTS.write_text("1")
    try:
        yield
    finally:
        MIGRATE_REQUESTS.write_text(before)


@pytest.mark.slow
@pytest.mark.usefixtures("migrating_listeners")
def test_a_recycled_worker_loses_no_request_that_had_not_started(tmp_path: Path) -> None:
    """A one-byte ceiling makes every worker leave after its requests, as soon as a sibling listens."""
    environ = {"OMLSVC_MAX_WORKER_MEMORY": "1", "OMLSVC_MAX_SCORING_MEMORY": str(GIB)}
    with serving(tmp_path / "data", workers=2, threads=2, environ=environ) as service:
        token = service.token()
        store_and_deploy(service, token, modelzoo.make_regressor_zip(tmp_path).zip_path.read_bytes(), "house")
        failures: list[str] = []
        answered = [0]
        deadline = time.monotonic() + 20
        seen_workers: set[int] = set(service.worker_pids())

        def client() -> None:
            while time.monotonic() < deadline:
                try:
                    answer = _score(service, token, "house", HOUSE, timeout=60)
                except OSError as error:
                    failures.append(repr(error))
                    continue
                if answer.status != 200:
                    failures.append(f"{answer.status} {answer.body}")
                answered[0] += 1

        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        while any(thread.is_alive() for thread in clients):
            seen_workers.update(service.worker_pids())
            time.sleep(0.2)
        assert failures == []
        assert answered[0] > 20
        assert len(seen_workers) >= 4, "workers were not recycled"
        assert service.log().count("recycling it") >= 2
        # each left on its own: none ended by an error (a crash resets what it had accepted)
        assert "Exception in worker process" not in service.log()


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow
def test_killing_the_worker_and_then_the_master_leaves_no_process_behind(tmp_path: Path) -> None:
    with serving(tmp_path / "data", workers=1) as service:
        token = service.token()
        assert (
            upload(
                service, token, modelzoo.make_regressor_zip(tmp_path).zip_path.read_bytes(), name="m"
            ).status
            == 201
        )
        master = service.process.pid
        (worker,) = service.worker_pids()
        started = _descendants(master)
        assert len(_descendants(worker)) >= 2, "the validation forkserver and its child were not started"
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and service.worker_pids() in ([], [worker]):
            time.sleep(0.1)
        started |= _descendants(master)
        os.kill(master, signal.SIGKILL)
        service.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in started):
            time.sleep(0.1)
        assert [pid for pid in started if _alive(pid)] == [], json.dumps(
            {
                pid: Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:200]
                for pid in started
                if _alive(pid)
            }
        )
