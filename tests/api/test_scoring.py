"""Scoring (spec section 5.6) through the HTTP API, checked against onnxruntime run directly.

Every response is also validated against the deployment's own OpenAPI document, and every request
against its request schema, so the document describes the traffic exactly.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import multipart, store_model
from tests.openapi_check import assert_valid, request_validator, response_validator

DEPLOYMENTS = "/omlmod/v1/deployment"


class Deployed:
    """A zoo model stored and deployed by ``caller``, with helpers to score it and check answers."""

    def __init__(self, caller: Caller, zoo: modelzoo.ZooModel, uri: str, model_type: str = "ONNX") -> None:
        self.caller = caller
        self.zoo = zoo
        self.uri = uri
        self.model_id = store_model(caller, zoo.zip_path, name=uri, model_type=model_type)
        deployed = caller.post(DEPLOYMENTS, json={"modelId": self.model_id, "uri": uri})
        assert deployed.status_code == 201, deployed.text
        self.document = caller.get(f"{DEPLOYMENTS}/{uri}/api").json
        source = _extracted(zoo) if zoo.extra_files else zoo.onnx_bytes
        self.session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])

    def score(self, body: dict[str, Any], *, validate_request: bool = True) -> list[dict[str, Any]]:
        if validate_request:
            assert_valid(request_validator(self.document), body)
        result = self.caller.post(f"{DEPLOYMENTS}/{self.uri}/score", json=body)
        assert result.status_code == 200, result.text
        assert_valid(response_validator(self.document), result.json)
        return result.json["scoringResults"]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feeds), strict=True))


def _extracted(zoo: modelzoo.ZooModel) -> str:
    """Models with external data load from a folder, as the service loads them."""
    import zipfile

    folder = zoo.zip_path.parent / f"{zoo.zip_path.stem}-extracted"
    with zipfile.ZipFile(zoo.zip_path) as archive:
        archive.extractall(folder)
    return str(next(folder.rglob("*.onnx")))


def records(sample: dict[str, np.ndarray], per_record: int = 1) -> list[dict[str, Any]]:
    """Rows of ``sample`` split into records of ``per_record`` rows each (as JSON lists)."""
    rows = len(next(iter(sample.values())))
    return [
        {name: values[start : start + per_record].tolist() for name, values in sample.items()}
        for start in range(0, rows, per_record)
    ]


def classifications(results: list[dict[str, Any]]) -> list[dict[str, float]]:
    return [{c["label"]: c["probability"] for c in r["classifications"]} for r in results]


# --- tabular models ---------------------------------------------------------------------------------


def test_regression_matches_onnxruntime(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    sample = dict(model.zoo.sample)
    expected = next(iter(model.run(sample).values()))[:, 0]
    results = model.score({"inputRecords": records(sample)})
    assert [r["regression"] for r in results] == pytest.approx(expected.tolist(), rel=1e-6)


def test_several_rows_in_one_record_give_one_result_per_row_in_order(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    rows = np.asarray(modelzoo._iris()[0][:5, :3], dtype=np.float32)
    expected = next(iter(model.run({"float_input": rows}).values()))[:, 0]
    body = {"inputRecords": [{"float_input": rows[:3].tolist()}, {"float_input": rows[3:].tolist()}]}
    assert [r["regression"] for r in model.score(body)] == pytest.approx(expected.tolist(), rel=1e-6)


def test_numbers_sent_as_strings_are_coerced_like_oracles_examples(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    rows = np.asarray([[5.0, 3.5, 1.25]], dtype=np.float32)
    expected = next(iter(model.run({"float_input": rows}).values()))[0, 0]
    (result,) = model.score({"inputRecords": [{"float_input": [["5", "3.5", "1.25"]]}]})
    assert result["regression"] == pytest.approx(float(expected), rel=1e-6)


def test_a_zipmap_classifier_returns_every_class_in_label_order(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_zipmap_classifier_zip(tmp_path), "iris")
    sample = dict(model.zoo.sample)
    expected = model.run(sample)["output_probability"]
    results = model.score({"inputRecords": records(sample)})
    for got, want in zip(results, expected, strict=True):
        assert [c["label"] for c in got["classifications"]] == list(want)
        assert [c["probability"] for c in got["classifications"]] == pytest.approx(
            list(want.values()), rel=1e-6
        )


def test_top_n_returns_the_best_classes_first(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_zipmap_classifier_zip(tmp_path), "iris")
    sample = dict(model.zoo.sample)
    expected = model.run(sample)["output_probability"]
    results = model.score({"inputRecords": records(sample), "topN": 2, "topNdetails": 3})
    for got, want in zip(results, expected, strict=True):
        best = sorted(want.items(), key=lambda item: -item[1])[:2]
        assert [(c["label"], c["probability"]) for c in got["classifications"]] == [
            (label, pytest.approx(p, rel=1e-6)) for label, p in best
        ]


def test_a_plain_classifier_takes_its_labels_from_label_txt(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_plain_classifier_zip(tmp_path), "iris_plain")
    sample = dict(model.zoo.sample)
    probabilities = model.run(sample)["probabilities"]
    results = model.score({"inputRecords": records(sample)})
    for got, row in zip(classifications(results), probabilities, strict=True):
        assert list(got) == list(modelzoo.IRIS_CLASSES)
        assert list(got.values()) == pytest.approx(row.tolist(), rel=1e-6)


def test_a_two_input_pipeline_takes_a_string_and_a_float_input(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_multi_input_pipeline_zip(tmp_path), "pipeline")
    sample = dict(model.zoo.sample)
    expected = model.run(sample)["output_probability"]
    results = model.score({"inputRecords": records(sample)})
    for got, want in zip(classifications(results), expected, strict=True):
        assert got == pytest.approx(dict(want), rel=1e-6)


def test_kmeans_clusters_come_nearest_first_with_distances(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_kmeans_zip(tmp_path), "segments")
    sample = dict(model.zoo.sample)
    distances = next(v for k, v in model.run(sample).items() if "score" in k)
    results = model.score({"inputRecords": records(sample)})
    for got, row in zip(results, distances, strict=True):
        order = np.argsort(row, kind="stable")
        assert [c["clusterId"] for c in got["clusters"]] == [str(i) for i in order]
        assert [c["distance"] for c in got["clusters"]] == pytest.approx(row[order].tolist(), rel=1e-5)


def test_gmm_clusters_come_most_probable_first_and_top_n_cuts(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_gmm_zip(tmp_path), "mixture")
    sample = dict(model.zoo.sample)
    probabilities = next(v for k, v in model.run(sample).items() if "prob" in k)
    results = model.score({"inputRecords": records(sample), "topN": 1})
    for got, row in zip(results, probabilities, strict=True):
        (best,) = got["clusters"]
        assert best == {
            "clusterId": str(int(np.argmax(row))),
            "probability": pytest.approx(float(row.max()), rel=1e-5),
        }


def test_external_data_models_score_from_their_private_folder(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_external_data_zip(tmp_path), "external")
    sample = dict(model.zoo.sample)
    expected = next(iter(model.run(sample).values()))[:, 0]
    assert [r["regression"] for r in model.score({"inputRecords": records(sample)})] == pytest.approx(
        expected.tolist(), rel=1e-6
    )


# --- images -----------------------------------------------------------------------------------------


def photo(width: int = 40, height: int = 30, fmt: str = "PNG") -> bytes:
    """A smooth RGB picture larger than the models' 8 x 8 input, so resizing matters."""
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    pixels = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def reference_preprocess(
    data: bytes,
    *,
    layout: str,
    channel_order: str,
    mean: list[float] = modelzoo.IMAGE_MEAN,
    scale: list[float] = modelzoo.IMAGE_SCALE,
) -> np.ndarray:
    """An independent few-line reference of the documented pipeline, in numpy."""
    size = modelzoo.IMAGE_SIZE
    rgb = Image.open(io.BytesIO(data)).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    pixels = (np.asarray(rgb, dtype=np.float32) - np.float32(mean)) * np.float32(scale)
    if channel_order == "BGR":
        pixels = pixels[..., ::-1]
    batch = pixels[None]
    return batch.transpose(0, 3, 1, 2) if layout == "NCHW" else batch


@pytest.mark.parametrize(("layout", "channel_order"), [("NCHW", "RGB"), ("NHWC", "BGR")])
def test_an_uploaded_image_is_preprocessed_as_documented(
    alice: Caller, tmp_path: Path, layout: str, channel_order: str
) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path, layout=layout, channel_order=channel_order)
    model = Deployed(alice, zoo, f"pets_{layout}", "ONNX_IMG")
    image = photo()
    expected = model.run({"image": reference_preprocess(image, layout=layout, channel_order=channel_order)})
    body, content_type = multipart({}, {"imageData": ("cat.png", image)})
    result = alice.post(f"{DEPLOYMENTS}/{model.uri}/score", body=body, headers={"Content-Type": content_type})
    assert result.status_code == 200, result.text
    assert_valid(response_validator(model.document), result.json)
    (got,) = classifications(result.json["scoringResults"])
    assert list(got) == list(modelzoo.IMAGE_CLASSES)
    assert list(got.values()) == pytest.approx(expected["probabilities"][0].tolist(), abs=1e-5)


def test_nchw_rgb_and_nhwc_bgr_exports_of_one_network_agree(alice: Caller, tmp_path: Path) -> None:
    answers = []
    for layout, order in (("NCHW", "RGB"), ("NHWC", "BGR")):
        (tmp_path / layout).mkdir()
        zoo = modelzoo.make_image_classifier_zip(tmp_path / layout, layout=layout, channel_order=order)
        model = Deployed(alice, zoo, f"net_{layout}", "ONNX_IMG")
        answers.append(model.score({"inputRecords": [{"image": base64.b64encode(photo()).decode()}]}))
    assert classifications(answers[0])[0] == pytest.approx(classifications(answers[1])[0], abs=1e-5)


def test_base64_records_make_a_batch_and_top_n_applies(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")
    images = [photo(40, 30), photo(17, 23, "JPEG")]
    results = model.score(
        {"inputRecords": [{"image": base64.b64encode(i).decode()} for i in images], "topN": 3}
    )
    assert [len(r["classifications"]) for r in results] == [3, 3]
    for result, image in zip(results, images, strict=True):
        expected = model.run({"image": reference_preprocess(image, layout="NCHW", channel_order="RGB")})
        best = np.argsort(-expected["probabilities"][0])[:3]
        assert [c["label"] for c in result["classifications"]] == [modelzoo.IMAGE_CLASSES[i] for i in best]


def test_an_already_processed_4d_array_is_passed_through(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")
    batch = model.zoo.sample["image"][:1]
    expected = model.run({"image": batch})["probabilities"][0]
    (result,) = model.score({"inputRecords": [{"image": batch.tolist()}]})
    assert [c["probability"] for c in result["classifications"]] == pytest.approx(expected.tolist(), rel=1e-6)


def test_feature_extraction_returns_the_feature_vector(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_feature_extractor_zip(tmp_path), "embed", "ONNX_IMG")
    image = photo()
    plain = reference_preprocess(image, layout="NCHW", channel_order="RGB", mean=[0.0] * 3, scale=[1.0] * 3)
    expected = model.run({"image": plain})["features"][0]
    (result,) = model.score({"inputRecords": [{"image": base64.b64encode(image).decode()}]})
    assert result["doubleWeights"] == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-6)


def test_top_n_may_come_with_an_image_upload_as_a_field_or_query(alice: Caller, tmp_path: Path) -> None:
    Deployed(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")
    body, content_type = multipart({"topN": "2"}, {"imageData": ("p.png", photo())})
    as_field = alice.post(f"{DEPLOYMENTS}/pets/score", body=body, headers={"Content-Type": content_type})
    assert len(as_field.json["scoringResults"][0]["classifications"]) == 2
    body, content_type = multipart({}, {"imageData": ("p.png", photo())})
    as_query = alice.post(
        f"{DEPLOYMENTS}/pets/score", body=body, headers={"Content-Type": content_type}, params={"topN": "1"}
    )
    assert len(as_query.json["scoringResults"][0]["classifications"]) == 1


# --- access and bad input -------------------------------------------------------------------------


def test_shared_deployments_can_be_scored_by_others_private_ones_cannot(
    alice: Caller, bob: Caller, tmp_path: Path
) -> None:
    model = Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    body = {"inputRecords": records(dict(model.zoo.sample))}
    hidden = bob.post(f"{DEPLOYMENTS}/house_rg/score", json=body)
    assert hidden.status_code == 404
    assert alice.post(f"/omlmod/v1/models/{model.model_id}", json={"namespace": "X"}).status_code == 204
    shared_id = store_model(alice, model.zoo.zip_path, name="shared_rg", shared="true")
    alice.post(DEPLOYMENTS, json={"modelId": shared_id, "uri": "shared_rg"})
    assert bob.post(f"{DEPLOYMENTS}/shared_rg/score", json=body).status_code == 200


def test_after_undeploy_the_uri_answers_404(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    body = {"inputRecords": records(dict(model.zoo.sample))}
    assert alice.post(f"{DEPLOYMENTS}/house_rg/score", json=body).status_code == 200
    assert alice.delete(f"{DEPLOYMENTS}/house_rg").status_code == 204
    gone = alice.post(f"{DEPLOYMENTS}/house_rg/score", json=body)
    assert gone.status_code == 404
    assert gone.json["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "inputRecords"),
        ({"inputRecords": "rows"}, "inputRecords"),
        ({"inputRecords": []}, "inputRecords"),
        ({"inputRecords": [{"features": [[1, 2, 3]]}]}, "features"),
        ({"inputRecords": [{}]}, "float_input"),
        ({"inputRecords": [{"float_input": [1.0, 2.0, 3.0]}]}, "float_input"),
        ({"inputRecords": [{"float_input": [[1.0, 2.0]]}]}, "float_input"),
        ({"inputRecords": [{"float_input": [[1.0, 2.0, 3.0], [1.0]]}]}, "float_input"),
        ({"inputRecords": [{"float_input": [["a", "b", "c"]]}]}, "float_input"),
        ({"inputRecords": [{"float_input": [[{"x": 1}, 2, 3]]}]}, "float_input"),
        ({"inputRecords": [{"float_input": [[1, 2, 3]]}], "topN": 0}, "topN"),
        ({"inputRecords": [{"float_input": [[1, 2, 3]]}], "topN": "many"}, "topN"),
    ],
)
def test_bad_records_get_400_naming_the_input_and_problem(
    alice: Caller, tmp_path: Path, body: dict[str, Any], fragment: str
) -> None:
    Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    result = alice.post(f"{DEPLOYMENTS}/house_rg/score", json=body)
    assert result.status_code == 400, result.text
    assert result.json["code"] == "INVALID_INPUT"
    assert fragment in result.json["message"]


def test_an_image_for_a_tabular_model_and_records_for_an_image_model_are_refused(
    alice: Caller, tmp_path: Path
) -> None:
    Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    Deployed(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")
    body, content_type = multipart({}, {"imageData": ("p.png", photo())})
    image_to_tabular = alice.post(
        f"{DEPLOYMENTS}/house_rg/score", body=body, headers={"Content-Type": content_type}
    )
    assert image_to_tabular.status_code == 400
    assert "not an image model" in image_to_tabular.json["message"]
    rows_to_image = alice.post(f"{DEPLOYMENTS}/pets/score", json={"inputRecords": [{"image": [[1.0, 2.0]]}]})
    assert rows_to_image.status_code == 400


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not an image at all", "INVALID_IMAGE"),
        (photo(fmt="JPEG")[:200], "INVALID_IMAGE"),
    ],
)
def test_undecodable_images_are_400(alice: Caller, tmp_path: Path, data: bytes, code: str) -> None:
    Deployed(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")
    body, content_type = multipart({}, {"imageData": ("p.jpg", data)})
    result = alice.post(f"{DEPLOYMENTS}/pets/score", body=body, headers={"Content-Type": content_type})
    assert result.status_code == 400, result.text
    assert result.json["code"] == code


def test_too_many_rows_is_413(alice: Caller, tmp_path: Path) -> None:
    Deployed(alice, modelzoo.make_regressor_zip(tmp_path), "house_rg")
    body = {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]] * 10_001}]}
    result = alice.post(f"{DEPLOYMENTS}/house_rg/score", json=body)
    assert result.status_code == 413
    assert result.json["code"] == "PAYLOAD_TOO_LARGE"


def test_a_model_failing_inside_onnxruntime_answers_the_reason_without_library_insides(
    alice: Caller, tmp_path: Path
) -> None:
    zoo = modelzoo.make_runtime_failing_regressor_zip(tmp_path)
    model_id = store_model(alice, zoo.zip_path, name="fragile")
    assert (
        alice.post("/omlmod/v1/deployment", json={"modelId": model_id, "uri": "fragile"}).status_code == 201
    )
    fine = alice.post(
        "/omlmod/v1/deployment/fragile/score", json={"inputRecords": [{"float_input": [[1, 2, 3]]}]}
    )
    assert fine.json == {"scoringResults": [{"regression": 6.0}]}

    failed = alice.post(
        "/omlmod/v1/deployment/fragile/score", json={"inputRecords": [{"float_input": [[1, 2, 300]]}]}
    )

    assert failed.status_code == 400, failed.text
    assert failed.json["code"] == "SCORING_FAILED"
    message = failed.json["message"]
    assert "cannot be reshaped to the requested shape" in message
    assert "Reshape" in message
    for insides in ("/onnxruntime_src", ".h:", ".cc:", "onnxruntime::", "was false", "[ONNXRuntimeError]"):
        assert insides not in message, message


# -- issue 17: small differences Oracle's clients trip on ---------------------------------------------


def test_top_n_as_an_integral_json_number_is_that_integer(alice: Caller, tmp_path: Path) -> None:
    model = Deployed(alice, modelzoo.make_zipmap_classifier_zip(tmp_path), "iris")
    records = [{"float_input": [[6.3, 2.5, 5.0, 1.9]]}]
    as_integer = model.score({"inputRecords": records, "topN": 2})
    assert model.score({"inputRecords": records, "topN": 2.0}, validate_request=False) == as_integer
    half = alice.post(f"{DEPLOYMENTS}/iris/score", json={"inputRecords": records, "topN": 1.5})
    assert half.status_code == 400 and "topN" in half.json["message"]


@pytest.mark.parametrize("spelling", ["topNdetails", "topNDetails"])
def test_top_n_details_is_accepted_with_a_warning_that_onnx_does_not_support_it(
    alice: Caller, tmp_path: Path, spelling: str
) -> None:
    model = Deployed(alice, modelzoo.make_zipmap_classifier_zip(tmp_path), "iris")
    records = [{"float_input": [[6.3, 2.5, 5.0, 1.9]]}]
    plain = alice.post(f"{DEPLOYMENTS}/iris/score", json={"inputRecords": records})
    assert "Warning" not in plain.headers
    asked = alice.post(f"{DEPLOYMENTS}/iris/score", json={"inputRecords": records, spelling: 5})
    assert asked.status_code == 200
    assert asked.json == plain.json  # Oracle's answer shape, no details
    assert (
        asked.headers["Warning"]
        == '299 omlsvc "topNdetails is not supported for ONNX models and was ignored"'
    )
    assert_valid(request_validator(model.document), {"inputRecords": records, spelling: 5})
    wrong = alice.post(f"{DEPLOYMENTS}/iris/score", json={"inputRecords": records, spelling: 0})
    assert wrong.status_code == 400 and spelling in wrong.json["message"]
