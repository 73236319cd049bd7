"""The Open Inference Protocol (``/v2``) through Falcon's TestClient: the same tokens, visibility and
sessions as ``/omlmod``, the protocol's error body, and every malformed tensor refused with a 400
before anything reaches onnxruntime. (The real tritonclient and perf_analyzer: tests/e2e/test_oip.py.)"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model

DEPLOYMENTS = "/omlmod/v1/deployment"


def deploy(caller: Caller, zoo: modelzoo.ZooModel, uri: str) -> str:
    model_id = store_model(caller, zoo.zip_path, name=uri)
    result = caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri})
    assert result.status_code == 201, result.text
    return model_id


def infer(caller: Caller, uri: str, body: dict[str, Any], binary: bytes = b"", **headers: str) -> Any:
    header = json.dumps(body).encode()
    extra = {"Inference-Header-Content-Length": str(len(header))} if binary else {}
    extra.update(headers)
    return caller.post(f"/v2/models/{uri}/infer", body=header + binary, headers=extra)


def split_binary(result: Any) -> tuple[dict[str, Any], bytes]:
    length = int(result.headers["Inference-Header-Content-Length"])
    return json.loads(result.content[:length]), result.content[length:]


@pytest.fixture
def regressor(alice: Caller, tmp_path: Path) -> modelzoo.ZooModel:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    deploy(alice, zoo, "house")
    return zoo


def run_ort(zoo: modelzoo.ZooModel, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    session = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def test_health_is_public_and_everything_else_needs_a_token(
    client: Any, regressor: modelzoo.ZooModel
) -> None:
    assert client.simulate_get("/v2/health/live").json == {"live": True}
    assert client.simulate_get("/v2/health/ready").json == {"ready": True}
    for path in ("/v2", "/v2/models/house", "/v2/models/house/ready", "/v2/models/stats"):
        result = client.simulate_get(path)
        assert result.status_code == 401, path
        assert set(result.json) == {"error"}
    assert client.simulate_post("/v2/models/house/infer", body=b"{}").status_code == 401


def test_server_and_model_metadata_come_from_the_stored_signature(
    alice: Caller, regressor: modelzoo.ZooModel
) -> None:
    server = alice.get("/v2").json
    assert set(server["extensions"]) >= {"binary_tensor_data", "classification", "statistics"}
    meta = alice.get("/v2/models/house").json
    assert meta["name"] == "house" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "float_input", "datatype": "FP32", "shape": [-1, 3]}]
    assert alice.get("/v2/models/house/versions/1").json == meta
    assert alice.get("/v2/models/house/ready").status_code == 200
    assert alice.get("/v2/models/house/versions/7").status_code == 404
    config = alice.get("/v2/models/house/config").json
    assert config["max_batch_size"] > 0 and config["input"][0]["dims"] == [3]


def test_json_and_binary_inference_equal_onnxruntime(alice: Caller, regressor: modelzoo.ZooModel) -> None:
    x = regressor.sample["float_input"].astype(np.float32)
    expected = next(iter(run_ort(regressor, {"float_input": x}).values()))
    body = {
        "id": "r1",
        "inputs": [{"name": "float_input", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}],
    }
    result = infer(alice, "house", body)
    assert result.status_code == 200, result.text
    answer = result.json
    assert answer["id"] == "r1" and answer["model_name"] == "house"
    (output,) = answer["outputs"]
    assert output["datatype"] == "FP32" and output["shape"] == list(expected.shape)
    np.testing.assert_allclose(
        np.array(output["data"], np.float32).reshape(expected.shape), expected, rtol=1e-6
    )

    binary_body = {
        "inputs": [
            {
                "name": "float_input",
                "shape": list(x.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": x.nbytes},
            }
        ],
        "outputs": [{"name": output["name"], "parameters": {"binary_data": True}}],
    }
    result = infer(alice, "house", binary_body, x.tobytes())
    assert result.status_code == 200, result.text
    header, data = split_binary(result)
    assert header["outputs"][0]["parameters"]["binary_data_size"] == len(data)
    np.testing.assert_array_equal(np.frombuffer(data, np.float32).reshape(expected.shape), expected)


def test_a_zipmap_classifier_answers_a_probability_tensor_and_classes(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    deploy(alice, zoo, "iris")
    x = zoo.sample["float_input"].astype(np.float32)
    expected = run_ort(zoo, {"float_input": x})["output_probability"]
    body = {
        "inputs": [
            {
                "name": "float_input",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.reshape(-1).tolist(),
            }
        ],
        "outputs": [
            {"name": "output_probability"},
            {"name": "output_label"},
            {"name": "output_probability", "parameters": {"classification": 2}},
        ],
    }
    assert infer(alice, "iris", body).status_code == 400  # an output asked twice
    body["outputs"] = body["outputs"][:2]
    answer = infer(alice, "iris", body).json
    probabilities = np.array(answer["outputs"][0]["data"], np.float32).reshape(answer["outputs"][0]["shape"])
    for row, entry in enumerate(expected):
        np.testing.assert_allclose(probabilities[row], list(entry.values()), rtol=1e-6)
    assert answer["outputs"][1]["datatype"] == "BYTES"
    body["outputs"] = [{"name": "output_probability", "parameters": {"classification": 2}}]
    classes = infer(alice, "iris", body).json["outputs"][0]
    assert classes["shape"] == [2, 2]
    best = max(expected[0], key=lambda k: expected[0][k])
    index = list(expected[0]).index(best)
    assert classes["data"][0] == f"{expected[0][best]:f}:{index}:{best}"


def test_others_see_only_shared_deployments_and_may_not_unload(
    alice: Caller, bob: Caller, regressor: modelzoo.ZooModel
) -> None:
    assert bob.get("/v2/models/house").status_code == 404
    x = regressor.sample["float_input"]
    body = {
        "inputs": [{"name": "float_input", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}]
    }
    refused = infer(bob, "house", body)
    assert refused.status_code == 404 and set(refused.json) == {"error"}
    assert bob.post("/v2/repository/models/house/unload").status_code == 404
    assert alice.get("/v2/models/house/ready").status_code == 200


def test_the_repository_extension_deploys_and_undeploys_by_name(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    store_model(alice, zoo.zip_path, name="loadme")
    index = alice.post("/v2/repository/index").json
    assert {"name": "loadme", "state": "UNAVAILABLE", "reason": "not deployed"} in index
    assert alice.post("/v2/repository/models/loadme/load", json={}).status_code == 200
    assert {"name": "loadme", "version": "1", "state": "READY"} in alice.post(
        "/v2/repository/index", json={}
    ).json
    assert alice.get("/v2/models/loadme/ready").status_code == 200
    assert alice.post("/v2/repository/models/loadme/load").status_code == 200  # loaded already
    assert alice.post("/v2/repository/models/loadme/unload", json={"parameters": {}}).status_code == 200
    assert alice.get("/v2/models/loadme/ready").status_code == 404
    assert alice.post("/v2/repository/models/nothing/load").status_code == 404


def test_statistics_count_what_was_inferred(alice: Caller, regressor: modelzoo.ZooModel) -> None:
    x = regressor.sample["float_input"]
    body = {
        "inputs": [{"name": "float_input", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}]
    }
    for _ in range(3):
        assert infer(alice, "house", body).status_code == 200
    (stats,) = alice.get("/v2/models/house/stats").json["model_stats"]
    assert stats["inference_count"] == 3 * len(x)
    assert stats["inference_stats"]["success"]["count"] == 3
    assert stats["inference_stats"]["compute_infer"]["count"] == 3
    assert stats["inference_stats"]["compute_infer"]["ns"] > 0
    assert [s["name"] for s in alice.get("/v2/models/stats").json["model_stats"]] == ["house"]


def _tensor(**fields: Any) -> dict[str, Any]:
    return {"name": "float_input", "shape": [2, 3], "datatype": "FP32", **fields}


BAD_REQUESTS: list[tuple[str, dict[str, Any], bytes, str | None]] = [
    ("wrong datatype", {"inputs": [_tensor(datatype="INT64", data=[1, 2, 3, 4, 5, 6])]}, b"", "must be FP32"),
    ("unknown datatype", {"inputs": [_tensor(datatype="FP8", data=[1] * 6)]}, b"", "datatype"),
    ("data shorter than shape", {"inputs": [_tensor(data=[1.0, 2.0])]}, b"", "holds 2"),
    ("wrong rank", {"inputs": [_tensor(shape=[6], data=[1.0] * 6)]}, b"", "dimensions"),
    ("fixed dimension", {"inputs": [_tensor(shape=[3, 2], data=[1.0] * 6)]}, b"", "Dimension 1"),
    ("strings for floats", {"inputs": [_tensor(data=["a"] * 6)]}, b"", "numbers"),
    (
        "binary size not the shape's",
        {"inputs": [_tensor(parameters={"binary_data_size": 20})]},
        b"\0" * 20,
        "needs 24",
    ),
    (
        "binary sizes do not add up",
        {"inputs": [_tensor(parameters={"binary_data_size": 24})]},
        b"\0" * 28,
        "add up",
    ),
    (
        "binary size past the body",
        {"inputs": [_tensor(parameters={"binary_data_size": 48})]},
        b"\0" * 24,
        "past the end",
    ),
    (
        "unknown output",
        {"inputs": [_tensor(data=[1.0] * 6)], "outputs": [{"name": "nope"}]},
        b"",
        "Unknown output",
    ),
    ("unknown input", {"inputs": [_tensor(name="x", data=[1.0] * 6)]}, b"", "unknown input"),
    ("no inputs", {"inputs": []}, b"", "inputs"),
]


def test_malformed_tensors_are_refused_with_the_protocols_400(
    alice: Caller, regressor: modelzoo.ZooModel
) -> None:
    for case, body, binary, needle in BAD_REQUESTS:
        result = infer(alice, "house", body, binary)
        assert result.status_code == 400, (case, result.text)
        assert set(result.json) == {"error"}, case
        assert needle in result.json["error"], (case, result.json)


def test_a_header_length_past_the_body_and_bad_json_are_400(
    alice: Caller, regressor: modelzoo.ZooModel
) -> None:
    data = b'{"inputs": []}'
    for length in ("999", "-1", "abc"):
        result = alice.post(
            "/v2/models/house/infer", body=data, headers={"Inference-Header-Content-Length": length}
        )
        assert result.status_code == 400 and set(result.json) == {"error"}, length
    assert alice.post("/v2/models/house/infer", body=b"{nope").json.keys() == {"error"}
    assert alice.post("/v2/models/house/infer", body=b"[" * 5000 + b"]" * 5000).status_code == 400


def test_unknown_v2_routes_and_methods_answer_the_protocols_error(alice: Caller) -> None:
    missing = alice.get("/v2/nothing/here")
    assert missing.status_code == 404 and set(missing.json) == {"error"}
    wrong = alice.get("/v2/repository/index")
    assert wrong.status_code == 405 and set(wrong.json) == {"error"}
    assert set(alice.get("/omlmod/v1/nothing").json) == {"code", "message"}


def test_bytes_tensors_travel_in_json_and_binary(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_multi_input_pipeline_zip(tmp_path)
    deploy(alice, zoo, "pipe")
    cat, num = zoo.sample["cat"], zoo.sample["num"].astype(np.float32)
    expected = run_ort(zoo, {"cat": cat, "num": num})["output_label"]
    strings = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in cat.reshape(-1))
    body = {
        "inputs": [
            {
                "name": "cat",
                "shape": list(cat.shape),
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(strings)},
            },
            {"name": "num", "shape": list(num.shape), "datatype": "FP32", "data": num.reshape(-1).tolist()},
        ],
        "outputs": [{"name": "output_label"}],
    }
    result = infer(alice, "pipe", body, strings)
    assert result.status_code == 200, result.text
    assert result.json["outputs"][0]["data"] == [str(v) for v in expected]
    body["inputs"][0]["parameters"] = {"binary_data_size": len(strings) - 1}
    assert infer(alice, "pipe", body, strings[:-1]).status_code == 400
