"""Dynamic batching through the HTTP API (issue 20): a deployment opts in with ``batching``, its
record shows it, bad options are a 400 naming the field, concurrent requests are merged (the
metrics show the batch sizes) and answer exactly what an unbatched deployment of the same model
answers."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from prometheus_client.parser import text_string_to_metric_families

from omlsvc.config import Settings
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model

DEPLOYMENTS = "/omlmod/v1/deployment"
METRICS_TOKEN = "scraper-token-for-batching-tests-0123"
THREADS = 12


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, metrics_token=METRICS_TOKEN)


def stored_gmm(caller: Caller, tmp_path: Path, name: str) -> str:
    (tmp_path / name).mkdir()
    return store_model(caller, modelzoo.make_gmm_zip(tmp_path / name).zip_path, name=name)


def test_a_deployment_opts_in_and_its_record_shows_it(alice: Caller, tmp_path: Path) -> None:
    model_id = stored_gmm(alice, tmp_path, "mixture")
    bad_options: list[tuple[Any, str]] = [
        ({"maxBatchSize": 0}, "batching.maxBatchSize must be an integer from 1 to 1024"),
        ({"maxBatchSize": 1025}, "batching.maxBatchSize must be an integer from 1 to 1024"),
        ({"maxBatchSize": True}, "batching.maxBatchSize must be an integer"),
        ({"maxDelayMs": -1}, "batching.maxDelayMs must be a number of milliseconds from 0 to 100"),
        ({"maxDelayMs": 101}, "batching.maxDelayMs must be a number of milliseconds from 0 to 100"),
        ({"maxDelay": 2}, "batching takes maxBatchSize and maxDelayMs only, not maxDelay"),
        ([32, 2], "batching must be an object"),
    ]
    for bad, message in bad_options:
        result = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "mixture", "batching": bad})
        assert result.status_code == 400, (bad, result.text)
        assert message in result.json["message"]

    created = alice.post(
        DEPLOYMENTS, json={"modelId": model_id, "uri": "mixture", "batching": {"maxBatchSize": 16}}
    )

    assert created.status_code == 201, created.text
    options = {"maxBatchSize": 16, "maxDelayMs": 2.0}
    assert created.json["batching"] == options
    assert alice.get(f"{DEPLOYMENTS}/mixture").json["batching"] == options
    listed = alice.get(DEPLOYMENTS).json["items"]
    assert [item.get("batching") for item in listed] == [options]


def test_a_deployment_without_batching_shows_none(alice: Caller, tmp_path: Path) -> None:
    model_id = stored_gmm(alice, tmp_path, "plain")
    created = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "plain"})
    assert created.status_code == 201, created.text
    assert "batching" not in created.json
    assert "batching" not in alice.get(f"{DEPLOYMENTS}/plain").json


def test_concurrent_requests_are_merged_and_answer_exactly_as_unbatched(
    client: falcon.testing.TestClient, alice: Caller, tmp_path: Path
) -> None:
    batched_id = stored_gmm(alice, tmp_path, "batched")
    plain_id = stored_gmm(alice, tmp_path, "unbatched")
    options = {"maxBatchSize": 64, "maxDelayMs": 100}
    for model_id, uri, extra in ((batched_id, "batched", {"batching": options}), (plain_id, "unbatched", {})):
        result = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri, **extra})
        assert result.status_code == 201, result.text
    x, _ = modelzoo._iris()
    bodies = [
        {"inputRecords": [{"float_input": x[i : i + 1 + i % 3].tolist()}], "topN": 2} for i in range(THREADS)
    ]
    expected = []
    for body in bodies:
        result = alice.post(f"{DEPLOYMENTS}/unbatched/score", json=body)
        assert result.status_code == 200, result.text
        expected.append(result.json)
    answers: list[Any] = [None] * THREADS
    barrier = threading.Barrier(THREADS)

    def score(index: int) -> None:
        barrier.wait()
        answers[index] = alice.post(f"{DEPLOYMENTS}/batched/score", json=bodies[index])

    threads = [threading.Thread(target=score, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [a.status_code for a in answers] == [200] * THREADS
    assert [a.json for a in answers] == expected
    scraped = client.simulate_get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    merged_runs = samples[("omlsvc_scoring_batch_requests_count", (("deployment", "batched"),))]
    merged_requests = samples[("omlsvc_scoring_batch_requests_sum", (("deployment", "batched"),))]
    assert merged_runs >= 1 and merged_requests >= 2
    assert ("omlsvc_scoring_batch_requests_count", (("deployment", "unbatched"),)) not in samples
