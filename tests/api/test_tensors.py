"""Any tensor by name and cut deployments (issue 16), through the HTTP API, on SQLite and PostgreSQL.

The reference for every requested value is onnxruntime run directly on ``onnx.utils.extract_model``
of the same graph (the sub-graph from the inputs to that value): an independent way to compute it.
"""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
import pytest

from omlsvc.scoring.sessions import MAX_VARIANTS_PER_MODEL
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import multipart, store_model
from tests.api.test_scoring import photo, reference_preprocess
from tests.openapi_check import assert_valid, request_validator, response_validator

DEPLOYMENTS = "/omlmod/v1/deployment"
#: Values computed by the model do not depend on the database: these run on SQLite only; deploying,
#: cutting and swapping (which store the cut in the deployment's row) run on both.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def extracted_values(
    tmp_path: Path, model: onnx.ModelProto, inputs: list[str], name: str, feeds: dict[str, np.ndarray]
) -> np.ndarray:
    """``name`` computed by onnxruntime on the sub-graph ``onnx.utils.extract_model`` cuts out."""
    source, target = tmp_path / "whole.onnx", tmp_path / f"upto_{name}.onnx"
    onnx.save(model, str(source))
    onnx.utils.extract_model(str(source), str(target), inputs, [name])
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (value,) = session.run([name], feeds)
    return np.asarray(value)


def deploy(caller: Caller, zoo: modelzoo.ZooModel, uri: str, model_type: str, **extra: Any) -> str:
    model_id = store_model(caller, zoo.zip_path, name=uri, model_type=model_type)
    deployed = caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri, **extra})
    assert deployed.status_code == 201, deployed.text
    return model_id


def test_intermediate_tensors_equal_onnxruntime_on_the_extracted_graph(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "pets", "ONNX_IMG")
    batch = zoo.sample["image"]
    names = ["relu_out", "pooled_out", "probabilities", "conv_out"]
    body = {"inputRecords": [{"image": batch.tolist()}], "outputTensors": names}
    document = alice.get(f"{DEPLOYMENTS}/pets/api").json
    assert_valid(request_validator(document), body)

    result = alice.post(f"{DEPLOYMENTS}/pets/score", json=body)

    assert result.status_code == 200, result.text
    assert_valid(response_validator(document), result.json)
    tensors = result.json["tensors"]
    assert [t["name"] for t in tensors] == names  # the order asked
    for tensor in tensors:
        expected = extracted_values(tmp_path, zoo.model, ["image"], tensor["name"], {"image": batch})
        assert tensor["shape"] == list(expected.shape)
        assert tensor["datatype"] == "FLOAT"
        assert tensor["data"] == pytest.approx(expected.reshape(-1).tolist(), rel=1e-5, abs=1e-6)


@sqlite_only
def test_an_uploaded_image_answers_its_tensors_too(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "pets", "ONNX_IMG")
    image = photo()
    pixels = reference_preprocess(image, layout="NCHW", channel_order="RGB")
    body, content_type = multipart(
        {"outputTensors": '["pooled_out", "probabilities"]'}, {"imageData": ("cat.png", image)}
    )

    result = alice.post(f"{DEPLOYMENTS}/pets/score", body=body, headers={"Content-Type": content_type})

    assert result.status_code == 200, result.text
    for tensor in result.json["tensors"]:
        expected = extracted_values(tmp_path, zoo.model, ["image"], tensor["name"], {"image": pixels})
        assert tensor["shape"] == list(expected.shape)
        assert tensor["data"] == pytest.approx(expected.reshape(-1).tolist(), rel=1e-4, abs=1e-5)
    as_records = alice.post(
        f"{DEPLOYMENTS}/pets/score",
        json={"inputRecords": [{"image": base64.b64encode(image).decode()}], "outputTensors": ["pooled_out"]},
    )
    assert as_records.json["tensors"][0] == result.json["tensors"][0]


@sqlite_only
def test_a_graph_that_fixes_its_batch_size_answers_the_whole_batch(alice: Caller, tmp_path: Path) -> None:
    model = modelzoo.make_tabular_model(
        {"probabilities": "probabilities"}, input_shape=(1, modelzoo.FEATURES)
    )
    zoo = modelzoo.zip_package(
        tmp_path, "fixed", model, {"function": "classification"}, modelzoo.IRIS_CLASSES
    )
    deploy(alice, zoo, "fixed", "ONNX")
    rows = np.random.default_rng(3).random((5, modelzoo.FEATURES), dtype=np.float32)

    result = alice.post(
        f"{DEPLOYMENTS}/fixed/score",
        json={"inputRecords": [{"float_input": rows.tolist()}], "outputTensors": ["scores_out"]},
    )

    assert result.status_code == 200, result.text
    (tensor,) = result.json["tensors"]
    expected = np.concatenate(
        [
            extracted_values(tmp_path, model, ["float_input"], "scores_out", {"float_input": row[None]})
            for row in rows
        ]
    )
    assert tensor["shape"] == [5, len(modelzoo.IRIS_CLASSES)]
    assert tensor["data"] == pytest.approx(expected.reshape(-1).tolist(), rel=1e-5)


def test_the_tensors_endpoint_lists_inputs_intermediates_and_outputs(alice: Caller, tmp_path: Path) -> None:
    deploy(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")

    listed = alice.get(f"{DEPLOYMENTS}/pets/tensors")

    assert listed.status_code == 200, listed.text
    by_name = {t["name"]: t for t in listed.json["tensors"]}
    assert by_name["image"]["kind"] == "input"
    assert by_name["relu_out"] == {
        "name": "relu_out",
        "kind": "intermediate",
        "datatype": "FLOAT",
        "shape": [-1, 4, 8, 8],
        "operator": "Relu",
    }
    assert by_name["probabilities"]["kind"] == "output"
    assert by_name["probabilities"]["shape"] == [-1, 4]
    assert "conv_w" not in by_name  # weights are not values a score computes


def test_the_tensors_endpoint_needs_a_token_and_a_visible_deployment(
    alice: Caller, bob: Caller, tmp_path: Path, client: Any
) -> None:
    deploy(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")
    assert client.simulate_get(f"{DEPLOYMENTS}/pets/tensors").status_code == 401
    assert bob.get(f"{DEPLOYMENTS}/pets/tensors").status_code == 404
    assert (
        bob.post(
            f"{DEPLOYMENTS}/pets/score", json={"inputRecords": [], "outputTensors": ["relu_out"]}
        ).status_code
        == 404
    )


@sqlite_only
@pytest.mark.parametrize(
    ("names", "says"),
    [
        (["no_such_value"], "no tensor named 'no_such_value'"),
        (["image"], "'image' is a graph input"),
        (["conv_w"], "no tensor named 'conv_w'"),
        ([], "outputTensors must be a list"),
        ("relu_out", "outputTensors must be a list"),
        (["relu_out", "relu_out"], "outputTensors names a tensor twice"),
    ],
)
def test_a_bad_tensor_name_is_a_400_naming_the_field(
    alice: Caller, tmp_path: Path, names: object, says: str
) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "pets", "ONNX_IMG")
    body = {"inputRecords": [{"image": zoo.sample["image"].tolist()}], "outputTensors": names}

    result = alice.post(f"{DEPLOYMENTS}/pets/score", json=body)

    assert result.status_code == 400, result.text
    assert "outputTensors" in result.json["message"]
    assert says in result.json["message"]


# --- cutting a classifier into a feature extractor ------------------------------------------------


def test_a_cut_deployment_scores_the_intermediate_tensor_as_features(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "pets_features", "ONNX_IMG", outputTensor="pooled_out")
    batch = zoo.sample["image"]
    document = alice.get(f"{DEPLOYMENTS}/pets_features/api").json
    body = {"inputRecords": [{"image": batch.tolist()}]}

    result = alice.post(f"{DEPLOYMENTS}/pets_features/score", json=body)

    assert result.status_code == 200, result.text
    assert_valid(response_validator(document), result.json)
    expected = extracted_values(tmp_path, zoo.model, ["image"], "pooled_out", {"image": batch})
    weights = [r["doubleWeights"] for r in result.json["scoringResults"]]
    assert np.asarray(weights) == pytest.approx(expected.reshape(len(batch), -1), rel=1e-5, abs=1e-6)
    described = alice.get(f"{DEPLOYMENTS}/pets_features").json
    assert described["outputTensor"] == "pooled_out"
    assert described["metadata"]["miningFunction"] == "FEATURE_EXTRACTION"
    assert "doubleWeights" in str(document)


@sqlite_only
def test_a_cut_deployment_agrees_with_the_tensor_of_the_whole_model(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "cut", "ONNX_IMG", outputTensor="relu_out")
    (tmp_path / "whole").mkdir()
    deploy(alice, modelzoo.make_image_classifier_zip(tmp_path / "whole"), "whole", "ONNX_IMG")
    image = base64.b64encode(photo()).decode()

    cut = alice.post(f"{DEPLOYMENTS}/cut/score", json={"inputRecords": [{"image": image}]})
    whole = alice.post(
        f"{DEPLOYMENTS}/whole/score", json={"inputRecords": [{"image": image}], "outputTensors": ["relu_out"]}
    )

    assert cut.status_code == whole.status_code == 200, (cut.text, whole.text)
    assert cut.json["scoringResults"][0]["doubleWeights"] == whole.json["tensors"][0]["data"]


@pytest.mark.parametrize(
    ("tensor", "says"),
    [
        ("no_such_value", "no tensor named 'no_such_value'"),
        ("image", "'image' is a graph input"),
        ("", "outputTensor must be a tensor name"),
        (7, "outputTensor must be a tensor name"),
    ],
)
def test_a_bad_cut_is_a_400_naming_the_field_and_deploys_nothing(
    alice: Caller, tmp_path: Path, tensor: object, says: str
) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    model_id = store_model(alice, zoo.zip_path, name="pets", model_type="ONNX_IMG")

    result = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "pets", "outputTensor": tensor})

    assert result.status_code == 400, result.text
    assert "outputTensor" in result.json["message"]
    assert says in result.json["message"]
    assert alice.get(f"{DEPLOYMENTS}/pets").status_code == 404


def test_a_model_swapped_in_behind_a_cut_uri_must_have_the_value(alice: Caller, tmp_path: Path) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "features", "ONNX_IMG", outputTensor="pooled_out")
    (tmp_path / "nhwc").mkdir()
    nhwc = modelzoo.make_image_classifier_zip(tmp_path / "nhwc", layout="NHWC")
    with_value = store_model(alice, nhwc.zip_path, name="nhwc", model_type="ONNX_IMG")
    plain = modelzoo.make_tabular_model({"probabilities": "probabilities"})
    without = store_model(
        alice,
        modelzoo.zip_package(
            tmp_path, "tab", plain, {"function": "classification"}, modelzoo.IRIS_CLASSES
        ).zip_path,
        name="tab",
    )

    refused = alice.put(f"{DEPLOYMENTS}/features", json={"modelId": without, "force": True})
    swapped = alice.put(f"{DEPLOYMENTS}/features", json={"modelId": with_value, "force": True})

    assert refused.status_code == 400, refused.text
    assert "outputTensor" in refused.json["message"] and "pooled_out" in refused.json["message"]
    assert swapped.status_code == 200, swapped.text
    assert swapped.json["outputTensor"] == "pooled_out"
    image = base64.b64encode(photo()).decode()
    scored = alice.post(f"{DEPLOYMENTS}/features/score", json={"inputRecords": [{"image": image}]})
    assert scored.status_code == 200, scored.text
    assert len(scored.json["scoringResults"][0]["doubleWeights"]) == 4


@sqlite_only
def test_the_extended_session_is_built_once_per_set_of_names(
    alice: Caller, tmp_path: Path, services: Any
) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "pets", "ONNX_IMG")
    records = [{"image": zoo.sample["image"].tolist()}]
    cache = services.scoring.cache

    for names in (["relu_out", "pooled_out"], ["pooled_out", "relu_out"], ["relu_out"], ["relu_out"]):
        result = alice.post(
            f"{DEPLOYMENTS}/pets/score", json={"inputRecords": records, "outputTensors": names}
        )
        assert result.status_code == 200, result.text
    alice.post(f"{DEPLOYMENTS}/pets/score", json={"inputRecords": records})

    # the plain session, one for {relu_out, pooled_out} (in either order), one for {relu_out}
    keys = cache.keys()
    assert len(keys) == 3
    sha256 = next(key for key in keys if "|" not in key)
    cache.evict(sha256)
    assert cache.keys() == []


@sqlite_only
def test_a_model_with_external_weights_answers_its_intermediate_values(alice: Caller, tmp_path: Path) -> None:
    """The extended graph is written beside the model, so its external weights still resolve."""
    zoo = modelzoo.make_external_data_zip(tmp_path)
    deploy(alice, zoo, "external", "ONNX")
    x = zoo.sample["float_input"].astype(np.float32)

    result = alice.post(
        f"{DEPLOYMENTS}/external/score",
        json={"inputRecords": [{"float_input": x.tolist()}], "outputTensors": ["product", "prediction"]},
    )

    assert result.status_code == 200, result.text
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(zoo.zip_path) as archive:
        archive.extractall(folder)
    whole = onnx.load(str(folder / "external.onnx"))  # the weights come along, from weights.bin
    for tensor in result.json["tensors"]:
        expected = extracted_values(folder, whole, ["float_input"], tensor["name"], {"float_input": x})
        assert tensor["data"] == pytest.approx(expected.reshape(-1).tolist(), rel=1e-6)


@sqlite_only
def test_new_sets_of_names_cannot_push_other_models_out_of_the_cache(
    alice: Caller, tmp_path: Path, services: Any
) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    deploy(alice, zoo, "pets", "ONNX_IMG")
    records = [{"image": zoo.sample["image"].tolist()}]
    names = ["conv_out", "relu_out", "pooled_out", "embedding_out", "logits_out", "softmax_out"]

    for name in names:
        result = alice.post(
            f"{DEPLOYMENTS}/pets/score", json={"inputRecords": records, "outputTensors": [name]}
        )
        assert result.status_code == 200, result.text

    keys = services.scoring.cache.keys()
    variants = [key for key in keys if "|" in key]
    assert len(variants) == MAX_VARIANTS_PER_MODEL
