"""Real gunicorn with two workers: both score concurrently, and both stop serving an undeployed URI
within a second (the deployment is looked up per request, not cached beyond that)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.server import RunningService, running_service


def call(
    service: RunningService,
    token: str,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, str, dict]:
    request = urllib.request.Request(
        service.url + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type, "Connection": "close"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, response.headers["X-Omlsvc-Worker"], json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Omlsvc-Worker"], json.loads(error.read())


@pytest.mark.slow
def test_two_workers_score_concurrently_and_both_see_an_undeploy_within_a_second(tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    score_body = json.dumps({"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]}).encode()
    with running_service(tmp_path / "data", workers=2, threads=4) as service:
        token = service.token()
        body, content_type = multipart(
            {"modelName": "house", "modelType": "ONNX", "version": "1.0"},
            {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
        )
        status, _, stored = call(service, token, "POST", "/omlmod/v1/models", body, content_type)
        assert status == 201, stored
        deploy = json.dumps({"modelId": stored["modelId"], "uri": "house"}).encode()
        assert call(service, token, "POST", "/omlmod/v1/deployment", deploy)[0] == 201

        def score(_: int) -> tuple[int, str, dict]:
            return call(service, token, "POST", "/omlmod/v1/deployment/house/score", score_body)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(score, range(64)))
        assert {status for status, _, _ in answers} == {200}
        assert {worker for _, worker, _ in answers} == {"0", "1"}
        assert len({json.dumps(result) for _, _, result in answers}) == 1

        assert call(service, token, "DELETE", "/omlmod/v1/deployment/house")[0] == 204
        undeployed_at = time.monotonic()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - undeployed_at)))
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 10
        while set(seen) != {"0", "1"} and time.monotonic() < deadline:
            status, worker, error = score(0)
            assert status == 404, error
            assert error["code"] == "NOT_FOUND"
            seen[worker] = status
        assert set(seen) == {"0", "1"}
