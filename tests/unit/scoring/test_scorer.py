"""PreparedModel end to end: records or image files in, scoringResults out, against onnxruntime."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from omlsvc.core.errors import InvalidInput, ScoringFailed
from omlsvc.scoring.images import ImagePreprocessor
from omlsvc.scoring.inputs import Feeds
from omlsvc.scoring.scorer import PreparedModel, scoring_failed
from tests.unit.scoring.builders import (
    IMAGE_CLASSES,
    BuiltModel,
    encode,
    gradient_image,
    iris,
    make_image_classifier,
)


def prepared(model: BuiltModel) -> PreparedModel:
    return PreparedModel(model.spec, model.session())


def test_records_with_several_rows_map_back_in_order(static_classifier: BuiltModel) -> None:
    rows = iris()[0][[0, 60, 120]]
    records = [{"X": rows[:2].tolist()}, {"X": rows[2:].tolist()}]

    results = prepared(static_classifier).score_records(records, top_n=1)

    direct = static_classifier.session().run(["probabilities"], {"X": rows})[0]
    assert [r["classifications"][0]["label"] for r in results] == ["setosa", "versicolor", "virginica"]
    assert [r["classifications"][0]["probability"] for r in results] == [float(p) for p in direct.max(axis=1)]


def test_zipmap_classifier(zipmap_str: BuiltModel) -> None:
    rows = iris()[0][[10, 70]]
    results = prepared(zipmap_str).score_records([{"X": rows.tolist()}])
    direct = zipmap_str.session().run(["output_probability"], {"X": rows})[0]
    assert results == [
        {"classifications": [{"label": k, "probability": float(v)} for k, v in row.items()]} for row in direct
    ]


def test_multi_input_pipeline(multi_input: BuiltModel) -> None:
    records = [
        {"colour": [["red"], ["blue"]], "size": [[1, 2], ["3", "4"]]},
        {"colour": [["green"]], "size": [[0, 0]]},
    ]

    results = prepared(multi_input).score_records(records)

    direct = multi_input.session().run(
        None,
        {
            "colour": np.array([["red"], ["blue"], ["green"]], dtype=object),
            "size": np.array([[1, 2], [3, 4], [0, 0]], np.float32),
        },
    )[0]
    assert results == [
        {
            "classifications": [
                {"label": "no", "probability": float(a)},
                {"label": "yes", "probability": float(b)},
            ]
        }
        for a, b in direct
    ]


def test_regression_and_clustering(regressor: BuiltModel, kmeans: BuiltModel) -> None:
    assert prepared(regressor).score_records([{"X": [[1, 1, 1]]}]) == [
        {"regression": float(regressor.session().run(None, {"X": np.ones((1, 3), np.float32)})[0][0, 0])}
    ]
    clusters = prepared(kmeans).score_records([{"X": [iris()[0][0].tolist()]}], top_n=1)[0]["clusters"]
    assert list(clusters[0]) == ["clusterId", "distance"]


def test_only_needed_outputs_are_requested(zipmap_str: BuiltModel, label_output: BuiltModel) -> None:
    class RecordingSession:
        def __init__(self, real: Any) -> None:
            self.real = real
            self.asked: list[Sequence[str] | None] = []

        def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any]) -> Sequence[Any]:
            self.asked.append(output_names)
            return self.real.run(output_names, input_feed)

    zipmap = RecordingSession(zipmap_str.session())
    PreparedModel(zipmap_str.spec, zipmap).score_records([{"X": [[1, 2, 3, 4]]}])
    labelled = RecordingSession(label_output.session())
    PreparedModel(label_output.spec, labelled).score_records([{"x": [[1, 2]]}])
    assert zipmap.asked == [["output_probability"]]
    assert labelled.asked == [["probs", "labels"]]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_nchw_rgb_and_nhwc_bgr_exports_agree(image_nchw: BuiltModel, image_nhwc: BuiltModel) -> None:
    photo = encode(gradient_image(48, 40), "JPEG", quality=90)
    other = encode(gradient_image(30, 30, seed=7), "PNG")

    nchw = prepared(image_nchw).score_records([{"image": b64(photo)}, {"image": b64(other)}])
    nhwc = prepared(image_nhwc).score_images([photo, other])

    for first, second in zip(nchw, nhwc, strict=True):
        assert [c["label"] for c in first["classifications"]] == list(IMAGE_CLASSES)
        np.testing.assert_allclose(
            [c["probability"] for c in first["classifications"]],
            [c["probability"] for c in second["classifications"]],
            rtol=1e-5,
        )
    # and against onnxruntime fed with the preprocessed tensor directly
    tensor = ImagePreprocessor(image_nchw.spec.image).preprocess(photo)  # type: ignore[arg-type]
    direct = image_nchw.session().run(None, {"image": tensor})[0][0]
    assert [c["probability"] for c in nchw[0]["classifications"]] == [float(p) for p in direct]


def test_image_top_n(image_nchw: BuiltModel) -> None:
    photo = encode(gradient_image(20, 20), "PNG")
    results = prepared(image_nchw).score_images([photo], top_n=2)
    probabilities = [c["probability"] for c in results[0]["classifications"]]
    assert len(probabilities) == 2 and probabilities[0] >= probabilities[1]


def test_fixed_batch_models_run_in_chunks(tmp_path: Path, image_nchw: BuiltModel) -> None:
    single = make_image_classifier(tmp_path, batch=1)
    pictures = [encode(gradient_image(16 + i, 16, seed=i), "PNG") for i in range(3)]

    chunked = prepared(single).score_images(pictures)

    assert chunked == prepared(image_nchw).score_images(pictures)


def test_fixed_batch_larger_than_one_pads_the_last_chunk(tmp_path: Path, image_nchw: BuiltModel) -> None:
    pair = make_image_classifier(tmp_path, batch=2)
    pictures = [encode(gradient_image(16, 16 + i, seed=i), "PNG") for i in range(3)]
    assert prepared(pair).score_images(pictures) == prepared(image_nchw).score_images(pictures)


def test_feature_extraction(feature_extractor: BuiltModel) -> None:
    picture = Image.new("RGB", (16, 16), (255, 0, 51))
    results = prepared(feature_extractor).score_images([encode(picture, "PNG")])
    np.testing.assert_allclose(results[0]["doubleWeights"], [1.0, 0.0, 0.2, 1.0, 0.0, 0.2], rtol=1e-6)


def test_image_model_refuses_tabular_records_and_tabular_model_refuses_images(
    image_nchw: BuiltModel, regressor: BuiltModel
) -> None:
    with pytest.raises(InvalidInput, match="record 0, input 'image'"):
        prepared(image_nchw).score_records([{"image": [[1, 2, 3]]}])
    with pytest.raises(InvalidInput, match="does not take images"):
        prepared(regressor).score_images([b"x"])


def test_onnxruntime_errors_become_scoring_failed(regressor: BuiltModel) -> None:
    model = prepared(regressor)
    wrong_width = Feeds({"X": np.zeros((1, 5), np.float32)}, 1, (1,))
    with pytest.raises(ScoringFailed) as caught:
        model.score_feeds(wrong_width)
    message = caught.value.message
    assert message.startswith("onnxruntime could not score the input: ")
    assert "[ONNXRuntimeError]" not in message
    assert "X" in message


def test_result_count_must_match_rows(regressor: BuiltModel) -> None:
    model = prepared(regressor)
    lying = Feeds({"X": np.zeros((2, 3), np.float32)}, 3, (3,))
    with pytest.raises(ScoringFailed, match="2 results for 3 input rows"):
        model.score_feeds(lying)


def test_scoring_failed_hides_paths() -> None:
    error = RuntimeError(
        "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from /srv/cache/ab/model.onnx failed"
    )
    failed = scoring_failed(
        error, "model ab could not be loaded", hide=("/srv/cache/ab/model.onnx", "/srv/cache/ab")
    )
    assert failed.message == "model ab could not be loaded: Load model from <model> failed"
