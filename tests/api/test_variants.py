"""Variants and profiles (issue 15): derived by tasks, stored as models of their own, deployed and
scored through the API, compared with what their results claim. Child processes make these the
slow tests of tasks, so they run on SQLite only (the task machinery is tested on both databases in
``test_tasks.py``)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from PIL import Image

from omlsvc.tasks.samples import SAMPLE_ROWS, sample_pixels, synthetic_inputs
from omlsvc.wiring import Services, build_runner
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]

MODELS = "/omlmod/v1/models"
DEPLOYMENTS = "/omlmod/v1/deployment"


def run_tasks(services: Services) -> None:
    build_runner(services).run_until_idle(timeout_s=300)


def submit(caller: Caller, path: str, body: dict[str, Any]) -> str:
    result = caller.post(path, json=body)
    assert result.status_code == 202, result.text
    return str(result.json["taskId"])


def finished(caller: Caller, task_id: str) -> dict[str, Any]:
    return dict(caller.get(f"/omlmod/v1/tasks/{task_id}").json)


def scores(caller: Caller, model_id: str, uri: str, records: list[dict[str, Any]]) -> np.ndarray:
    """Class probabilities (labels in sorted order) of the records, scored through a deployment."""
    deployed = caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri})
    assert deployed.status_code == 201, deployed.text
    result = caller.post(f"{DEPLOYMENTS}/{uri}/score", json={"inputRecords": records})
    assert result.status_code == 200, result.text
    rows = [
        {c["label"]: c["probability"] for c in r["classifications"]} for r in result.json["scoringResults"]
    ]
    return np.array([[row[k] for k in sorted(row)] for row in rows])


def png(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def sample_records(zoo: modelzoo.ZooModel) -> list[dict[str, Any]]:
    """The deterministic sample the variant task compares on, as score records: the same pixels as
    PNG images for the CNN, the same rows for the MLP."""
    if "image" in zoo.input_names:
        pixels = sample_pixels(SAMPLE_ROWS, modelzoo.IMAGE_SIZE, modelzoo.IMAGE_SIZE, 3)
        return [{"image": png(p)} for p in pixels]
    session = onnxruntime.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
    rows = synthetic_inputs(session.get_inputs(), SAMPLE_ROWS)["float_input"]
    return [{"float_input": [row.tolist()]} for row in rows]


@pytest.mark.parametrize(
    "make", [modelzoo.make_cnn_zip, modelzoo.make_mlp_classifier_zip], ids=["cnn", "mlp"]
)
def test_fp16_and_int8_variants_are_smaller_deployable_and_as_close_as_recorded(
    alice: Caller, services: Services, tmp_path: Path, make: Any
) -> None:
    zoo = make(tmp_path)
    model_type = "ONNX_IMG" if "image" in zoo.input_names else "ONNX"
    source_id = store_model(alice, zoo.zip_path, name="net", version="1.0", model_type=model_type)
    tasks = {
        kind: submit(alice, f"{MODELS}/{source_id}/variants", {"kind": kind, "version": v})
        for kind, v in (("fp16", "1.1"), ("int8", "1.2"))
    }
    run_tasks(services)
    records = sample_records(zoo)
    reference = scores(alice, source_id, "net_source", records)
    for kind, task_id in tasks.items():
        done = finished(alice, task_id)
        assert done["status"] == "SUCCEEDED", done
        result = done["result"]
        assert result["variantOnnxBytes"] < result["sourceOnnxBytes"]
        assert result["variantSizeBytes"] < result["sourceSizeBytes"]
        assert result["top1Agreement"] == 1.0
        details = alice.get(f"{MODELS}/{result['modelId']}").json
        assert details["derivedFrom"] == {"modelId": source_id, "kind": kind}
        assert details["modelName"] == "net"
        got = scores(alice, result["modelId"], f"net_{kind}", records)
        assert np.max(np.abs(got - reference)) <= result["maxAbsDiff"] + 1e-6


def test_a_graph_the_tools_cannot_shrink_fails_with_the_reason(
    alice: Caller, services: Services, tmp_path: Path
) -> None:
    source_id = store_model(alice, modelzoo.make_zipmap_classifier_zip(tmp_path).zip_path, name="linear")
    task_ids = [
        submit(alice, f"{MODELS}/{source_id}/variants", {"kind": k, "version": "2"}) for k in ("fp16", "int8")
    ]
    run_tasks(services)
    for task_id in task_ids:
        done = finished(alice, task_id)
        assert done["status"] == "FAILED"
        assert "would not be smaller" in done["message"] and "LinearClassifier" in done["message"]
    assert len(alice.get(MODELS).json["items"]) == 1
    assert list(services.models.scratch_dir.iterdir()) == []


def test_an_optimized_variant_answers_as_its_source_does(
    alice: Caller, services: Services, tmp_path: Path
) -> None:
    zoo = modelzoo.make_mlp_classifier_zip(tmp_path)
    source_id = store_model(alice, zoo.zip_path, name="mlp")
    task_id = submit(alice, f"{MODELS}/{source_id}/variants", {"kind": "optimized", "version": "1.1"})
    run_tasks(services)
    done = finished(alice, task_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["result"]["maxAbsDiff"] <= 1e-5
    records = sample_records(zoo)
    got = scores(alice, done["result"]["modelId"], "mlp_optimized", records)
    assert np.max(np.abs(got - scores(alice, source_id, "mlp_source", records))) <= 1e-5


def test_only_the_owner_derives_and_a_request_is_checked(alice: Caller, bob: Caller, tmp_path: Path) -> None:
    shared = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="reg", shared="true")
    assert bob.post(f"{MODELS}/{shared}/variants", json={"kind": "fp16", "version": "2"}).status_code == 403
    assert bob.post(f"{MODELS}/{shared}/profile", json={}).status_code == 403
    assert alice.post(f"{MODELS}/{shared}/variants", json={"kind": "fp8", "version": "2"}).status_code == 400
    assert alice.post(f"{MODELS}/{shared}/variants", json={"kind": "fp16"}).status_code == 400
    assert alice.post(f"{MODELS}/{shared}/profile", json={"batchSizes": [0]}).status_code == 400
    assert alice.post(f"{MODELS}/{shared}/profile", json={"seconds": 1000}).status_code == 400
    missing = "00000000-0000-0000-0000-000000000000"
    assert alice.post(f"{MODELS}/{missing}/profile", json={}).status_code == 404


def test_a_profile_of_three_batch_sizes_has_every_figure(
    alice: Caller, bob: Caller, services: Services, tmp_path: Path
) -> None:
    zoo = modelzoo.make_cnn_zip(tmp_path)
    source_id = store_model(alice, zoo.zip_path, name="cnn", shared="true", model_type="ONNX_IMG")
    body = {"batchSizes": [1, 4, 16], "seconds": 0.2, "providers": ["CPUExecutionProvider"]}
    task_id = submit(alice, f"{MODELS}/{source_id}/profile", body)
    run_tasks(services)
    done = finished(alice, task_id)
    assert done["status"] == "SUCCEEDED", done
    results = done["result"]["results"]
    assert [(r["provider"], r["batchSize"]) for r in results] == [
        ("CPUExecutionProvider", b) for b in (1, 4, 16)
    ]
    for figures in results:
        latency = figures["latencyMs"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"]
        assert figures["rowsPerSecond"] > 0 and figures["runs"] >= 5
        assert figures["peakMemoryBytes"] > 0 and figures["sessionCreationMs"] > 0
    listed = bob.get(f"{MODELS}/{source_id}/profiles")  # anyone who sees the model reads its profiles
    assert listed.status_code == 200
    assert [p["taskId"] for p in listed.json["items"]] == [task_id]
    assert listed.json["items"][0]["results"] == results
