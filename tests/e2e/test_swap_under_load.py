"""Swapping the model under a live URI while it serves a closed-loop load, through real gunicorn with two
workers: no request fails, and every answer comes wholly from the model its ``X-Omlsvc-Model-Id`` names."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import onnxruntime as ort
import pytest

from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.server import RunningService, running_service
from tests.e2e.test_scoring_workers import call

CONNECTIONS = 16
LOAD_S = 20.0
ROWS = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]


def expected(zoo: modelzoo.ZooModel) -> list[float]:
    session = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
    [out] = session.run(None, {"float_input": np.array(ROWS, np.float32)})
    return [float(v) for v in out[:, 0]]


def store(service: RunningService, token: str, zoo: modelzoo.ZooModel, name: str) -> str:
    body, content_type = multipart(
        {"modelName": name, "modelType": "ONNX", "version": "1.0"},
        {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
    )
    status, _, stored = call(service, token, "POST", "/omlmod/v1/models", body, content_type)
    assert status == 201, stored
    return str(stored["modelId"])


class Load:
    """``CONNECTIONS`` threads, each on its own keep-alive connection, scoring back to back."""

    def __init__(self, service: RunningService, token: str, answers: dict[str, list[float]]) -> None:
        self._address = urlsplit(service.url)
        self._token = token
        self._answers = answers
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.by_model: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self) -> None:
        threads = [threading.Thread(target=self._connection) for _ in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        self._threads = threads

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _connection(self) -> None:
        body = json.dumps({"inputRecords": [{"float_input": ROWS}]})
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        connection = http.client.HTTPConnection(self._address.hostname, self._address.port, timeout=60)
        try:
            while not self._stop.is_set():
                connection.request("POST", "/omlmod/v1/deployment/house/score", body, headers)
                response = connection.getresponse()
                self._check(response.status, response.getheader("X-Omlsvc-Model-Id"), response.read())
        except Exception as exc:
            with self._lock:
                self.failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    def _check(self, status: int, model_id: str | None, raw: bytes) -> None:
        with self._lock:
            if status != 200 or model_id not in self._answers:
                self.failures.append(f"{status} from {model_id}: {raw[:200]!r}")
                return
            values = [r["regression"] for r in json.loads(raw)["scoringResults"]]
            if values != pytest.approx(self._answers[model_id], rel=1e-6):
                self.failures.append(f"{model_id} answered {values}")
            self.by_model[model_id] += 1


@pytest.mark.slow
def test_swapping_twice_and_rolling_back_under_load_fails_no_request(tmp_path: Path) -> None:
    zoos = {
        name: modelzoo.make_linear_regressor_zip(tmp_path, weights, stem=name)
        for name, weights in (("v1", [1.0, 0.0, 0.0]), ("v2", [0.0, 10.0, 0.0]), ("v3", [0.0, 0.0, 100.0]))
    }
    with running_service(tmp_path / "data", workers=2, threads=8) as service:
        token = service.token()
        ids = {name: store(service, token, zoo, f"house_{name}") for name, zoo in zoos.items()}
        deploy = json.dumps({"modelId": ids["v1"], "uri": "house"}).encode()
        assert call(service, token, "POST", "/omlmod/v1/deployment", deploy)[0] == 201
        load = Load(service, token, {ids[name]: expected(zoo) for name, zoo in zoos.items()})
        started = time.monotonic()
        load.run()
        try:
            for at, method, path, body in (
                (4.0, "PUT", "/omlmod/v1/deployment/house", {"modelId": ids["v2"]}),
                (9.0, "PUT", "/omlmod/v1/deployment/house", {"modelId": ids["v3"]}),
                (14.0, "POST", "/omlmod/v1/deployment/house/rollback", None),
            ):
                time.sleep(max(0.0, at - (time.monotonic() - started)))
                data = None if body is None else json.dumps(body).encode()
                status, _, answer = call(service, token, method, path, data)
                assert status == 200, answer
            time.sleep(max(0.0, LOAD_S - (time.monotonic() - started)))
        finally:
            load.stop()

        assert load.failures == []
        # every model served a share of the load: the swaps took effect while it ran
        assert set(load.by_model) == set(ids.values()), load.by_model
        status, _, history = call(service, token, "GET", "/omlmod/v1/deployment/house/history")
        assert [h["action"] for h in history["items"]] == ["rollback", "swap", "swap", "deploy"]
        assert history["items"][0]["modelId"] == ids["v2"]
