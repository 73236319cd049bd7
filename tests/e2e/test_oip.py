"""The real Open Inference Protocol clients against gunicorn: NVIDIA's ``tritonclient`` (HTTP) for
every kind of model, JSON and binary tensors, classification, metadata, statistics and the model
repository, each answer equal to onnxruntime's on the same tensors; and ``perf_analyzer`` running
against a deployment with a bearer token. One server for the module."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
import tritonclient.utils as triton_utils

from bench.perf_analyzer import find_perf_analyzer, run_perf_analyzer
from omlsvc.metric_writes import WRITE_BEHIND_S
from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.server import RunningService, running_service

pytestmark = pytest.mark.slow


class Served:
    def __init__(self, service: RunningService, token: str) -> None:
        self.service = service
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client = httpclient.InferenceServerClient(service.url.removeprefix("http://"))

    def store(self, zoo: modelzoo.ZooModel, name: str, model_type: str = "ONNX") -> str:
        body, content_type = multipart(
            {"modelName": name, "modelType": model_type, "version": "1.0"},
            {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
        )
        request = urllib.request.Request(
            self.service.url + "/omlmod/v1/models",
            data=body,
            headers={**self.headers, "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return str(json.load(response)["modelId"])

    def deploy(self, zoo: modelzoo.ZooModel, name: str, model_type: str = "ONNX") -> None:
        self.store(zoo, name, model_type)
        self.client.load_model(name, headers=self.headers)  # the repository extension deploys it


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("oip")
    with running_service(folder / "data", workers=2, threads=4) as service:
        s = Served(service, service.token())
        s.deploy(modelzoo.make_zipmap_classifier_zip(folder), "iris")
        s.deploy(modelzoo.make_plain_classifier_zip(folder), "iris_plain")
        s.deploy(modelzoo.make_regressor_zip(folder), "house")
        s.deploy(modelzoo.make_kmeans_zip(folder), "clusters")
        s.deploy(modelzoo.make_image_classifier_zip(folder), "pets", "ONNX_IMG")
        s.deploy(modelzoo.make_multi_input_pipeline_zip(folder), "pipe")
        yield s


def onnxruntime_outputs(zoo: modelzoo.ZooModel, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    session = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def infer(served: Served, name: str, feeds: dict[str, np.ndarray], outputs: list[Any], binary: bool) -> Any:
    inputs = []
    for input_name, array in feeds.items():
        datatype = triton_utils.np_to_triton_dtype(array.dtype)
        tensor = httpclient.InferInput(input_name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    # a copy: tritonclient writes Inference-Header-Content-Length into the headers it is given
    headers = dict(served.headers)
    return served.client.infer(name, inputs, outputs=outputs, headers=headers, request_id="req-7")


def as_text(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_kind_of_model_answers_what_onnxruntime_does(
    served: Served, tmp_path: Path, binary: bool
) -> None:
    out = httpclient.InferRequestedOutput
    # a tabular classifier with ZipMap: probabilities as a [rows, classes] tensor, labels as BYTES
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    x = modelzoo._iris()[0][:5].astype(np.float32)
    expected = onnxruntime_outputs(zoo, {"float_input": x})
    result = infer(
        served,
        "iris",
        {"float_input": x},
        [out("output_probability", binary_data=binary), out("output_label", binary_data=binary)],
        binary,
    )
    assert result.get_response()["id"] == "req-7"
    probabilities = result.as_numpy("output_probability")
    np.testing.assert_allclose(
        probabilities, [list(row.values()) for row in expected["output_probability"]], rtol=1e-6
    )
    assert as_text(result.as_numpy("output_label")) == list(expected["output_label"])

    # the same classifier without ZipMap: plain tensors
    zoo = modelzoo.make_plain_classifier_zip(tmp_path)
    expected = onnxruntime_outputs(zoo, {"float_input": x})
    result = infer(served, "iris_plain", {"float_input": x}, [], binary)
    for name, value in expected.items():
        np.testing.assert_array_equal(result.as_numpy(name), value)

    # a regressor
    zoo = modelzoo.make_regressor_zip(tmp_path)
    rows = x[:, :3].copy()
    (expected_value,) = onnxruntime_outputs(zoo, {"float_input": rows}).values()
    result = infer(served, "house", {"float_input": rows}, [], binary)
    (name,) = [o["name"] for o in result.get_response()["outputs"]]
    np.testing.assert_array_equal(result.as_numpy(name), expected_value)

    # a clustering model: labels and distances
    zoo = modelzoo.make_kmeans_zip(tmp_path)
    expected = onnxruntime_outputs(zoo, {"float_input": x})
    result = infer(
        served, "clusters", {"float_input": x}, [out(n, binary_data=binary) for n in expected], binary
    )
    for name, value in expected.items():
        np.testing.assert_allclose(result.as_numpy(name), value, rtol=1e-6)

    # an image CNN takes its raw 4-D tensor, as Triton does: no server-side preprocessing
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    image = np.random.default_rng(3).random((4, 3, 8, 8), dtype=np.float32)
    (expected_value,) = onnxruntime_outputs(zoo, {"image": image}).values()
    result = infer(served, "pets", {"image": image}, [out("probabilities", binary_data=binary)], binary)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected_value)

    # two inputs: a string and a float tensor
    zoo = modelzoo.make_multi_input_pipeline_zip(tmp_path)
    feeds = {"cat": zoo.sample["cat"].astype(object), "num": zoo.sample["num"].astype(np.float32)}
    expected = onnxruntime_outputs(zoo, {"cat": zoo.sample["cat"], "num": feeds["num"]})
    result = infer(served, "pipe", feeds, [out("output_label", binary_data=binary)], binary)
    assert as_text(result.as_numpy("output_label")) == [str(v) for v in expected["output_label"]]


def test_class_count_gives_score_index_label_strings(served: Served, tmp_path: Path) -> None:
    zoo = modelzoo.make_plain_classifier_zip(tmp_path)
    x = modelzoo._iris()[0][48:53].astype(np.float32)
    (probabilities,) = [v for k, v in onnxruntime_outputs(zoo, {"float_input": x}).items() if "prob" in k]
    name = next(
        o["name"]
        for o in served.client.get_model_metadata("iris_plain", headers=served.headers)["outputs"]
        if "prob" in o["name"]
    )
    result = infer(
        served, "iris_plain", {"float_input": x}, [httpclient.InferRequestedOutput(name, class_count=2)], True
    )
    classes = result.as_numpy(name)
    assert classes.shape == (5, 2)
    for row, got in zip(probabilities, classes, strict=True):
        best = np.argsort(-row)[:2]
        labels = modelzoo.IRIS_CLASSES
        assert as_text(got) == [f"{row[i]:f}:{i}:{labels[i]}" for i in best]


def settled_statistics(client: httpclient.InferenceServerClient, headers: dict[str, str], name: str) -> Any:
    """A model's statistics once every worker has written what it counted: each writes within
    WRITE_BEHIND_S, so two reads that far apart and more that agree have nothing left to wait for."""
    deadline = time.monotonic() + 50 * WRITE_BEHIND_S
    latest = client.get_inference_statistics(name, headers=headers)["model_stats"][0]
    while True:
        time.sleep(3 * WRITE_BEHIND_S)
        earlier, latest = latest, client.get_inference_statistics(name, headers=headers)["model_stats"][0]
        if latest["inference_count"] == earlier["inference_count"] or time.monotonic() > deadline:
            return latest


def test_metadata_statistics_and_the_repository(served: Served, tmp_path: Path) -> None:
    client, headers = served.client, served.headers
    assert client.is_server_live() and client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata(headers=headers)["extensions"]
    meta = client.get_model_metadata("pets", headers=headers)
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 8, 8]}]
    assert client.is_model_ready("pets", headers=headers)
    assert client.is_model_ready("pets", model_version="1", headers=headers)

    before = settled_statistics(client, headers, "house")
    rows = modelzoo._iris()[0][:7, :3].astype(np.float32)
    infer(served, "house", {"float_input": rows}, [], True)
    after = settled_statistics(client, headers, "house")
    assert after["inference_count"] - before["inference_count"] == 7
    assert after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"] == 1

    served.store(modelzoo.make_gmm_zip(tmp_path), "mixture")
    index = {entry["name"]: entry["state"] for entry in client.get_model_repository_index(headers=headers)}
    assert index["mixture"] == "UNAVAILABLE" and index["house"] == "READY"
    client.load_model("mixture", headers=headers)
    assert client.is_model_ready("mixture", headers=headers)
    client.unload_model("mixture", headers=headers)
    # the worker that answers next may be the other one, which honours an undeploy within a second;
    # on a loaded 2-core machine its poll and the hand-off of its refresh can take some of another
    deadline = time.monotonic() + 2.0
    while client.is_model_ready("mixture", headers=headers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.is_model_ready("mixture", headers=headers)

    with pytest.raises(triton_utils.InferenceServerException) as refused:
        client.get_model_metadata("house", headers={"Authorization": "Bearer nonsense"})
    assert refused.value.status() == "401"


def test_bad_tensors_from_the_client_are_refused_with_400(served: Served) -> None:
    wrong = httpclient.InferInput("float_input", [2, 3], "FP64")
    wrong.set_data_from_numpy(np.zeros((2, 3), np.float64), binary_data=True)
    with pytest.raises(triton_utils.InferenceServerException) as refused:
        served.client.infer("house", [wrong], headers=dict(served.headers))
    assert refused.value.status() == "400" and "must be FP32" in refused.value.message()
    good = httpclient.InferInput("float_input", [2, 3], "FP32")
    good.set_data_from_numpy(np.zeros((2, 3), np.float32))
    with pytest.raises(triton_utils.InferenceServerException) as refused:
        served.client.infer(
            "house", [good], outputs=[httpclient.InferRequestedOutput("nope")], headers=dict(served.headers)
        )
    assert refused.value.status() == "400"


def test_perf_analyzer_measures_a_deployment_with_a_token(served: Served) -> None:
    tool = find_perf_analyzer()
    assert tool is not None, "perf_analyzer is not installed (see the README: Open Inference Protocol)"
    measured = run_perf_analyzer(
        tool,
        served.service.url,
        "house",
        served.token,
        concurrency=2,
        batch=8,
        interval_ms=500,
    )
    assert measured.throughput > 0
    assert measured.p50_us > 0
