"""Tensors -> scoringResults, checked against onnxruntime run directly on the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omlsvc.core.errors import InvalidInput, ScoringFailed
from omlsvc.core.signature import Function, LabelSource, ScoringSpec
from omlsvc.scoring.outputs import OutputFormatter
from tests.unit.scoring.builders import (
    IRIS_NAMES,
    BuiltModel,
    iris,
    make_kmeans,
    make_label_output_classifier,
)

ROWS = iris()[0][[0, 60, 120, 75]]


def run_direct(model: BuiltModel, feeds: dict[str, Any] | None = None) -> dict[str, Any]:
    session = model.session()
    feeds = feeds if feeds is not None else {session.get_inputs()[0].name: ROWS}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def as_float(value: Any) -> float:
    return float(np.float64(value))


def test_regression(regressor: BuiltModel) -> None:
    rows = np.array([[0.1, 0.2, 0.3], [1, -1, 2]], np.float32)
    outputs = run_direct(regressor, {"X": rows})
    results = OutputFormatter(regressor.spec).format(outputs)
    assert results == [{"regression": as_float(v)} for v in outputs["variable"][:, 0]]
    assert all(type(item["regression"]) is float for item in results)


def test_regression_ignores_top_n(regressor: BuiltModel) -> None:
    outputs = run_direct(regressor, {"X": np.ones((1, 3), np.float32)})
    assert OutputFormatter(regressor.spec).format(outputs, 2) == OutputFormatter(regressor.spec).format(
        outputs
    )


def test_zipmap_string_labels_in_label_order(zipmap_str: BuiltModel) -> None:
    outputs = run_direct(zipmap_str)

    results = OutputFormatter(zipmap_str.spec).format(outputs)

    assert len(results) == len(ROWS)
    for item, probabilities in zip(results, outputs["output_probability"], strict=True):
        assert item == {
            "classifications": [
                {"label": label, "probability": as_float(p)} for label, p in probabilities.items()
            ]
        }
        assert [c["label"] for c in item["classifications"]] == list(IRIS_NAMES)


def test_zipmap_top_n_is_best_first(zipmap_str: BuiltModel) -> None:
    outputs = run_direct(zipmap_str)
    formatter = OutputFormatter(zipmap_str.spec)

    top2 = formatter.format(outputs, 2)
    everything = formatter.format(outputs, 10)  # more than nClasses: all, sorted

    for row, probabilities in enumerate(outputs["output_probability"]):
        ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
        expected = [{"label": label, "probability": as_float(p)} for label, p in ranked]
        assert top2[row]["classifications"] == expected[:2]
        assert everything[row]["classifications"] == expected
    assert top2[0]["classifications"][0]["label"] == "setosa"
    assert top2[2]["classifications"][0]["label"] == "virginica"


def test_zipmap_integer_keys_become_strings(zipmap_int: BuiltModel) -> None:
    outputs = run_direct(zipmap_int)
    assert list(outputs["output_probability"][0]) == [0, 1, 2]

    results = OutputFormatter(zipmap_int.spec).format(outputs, 1)

    assert [item["classifications"][0]["label"] for item in results] == ["0", "1", "2", "1"]
    first = OutputFormatter(zipmap_int.spec).format(outputs)[0]["classifications"]
    assert first == [
        {"label": str(k), "probability": as_float(v)} for k, v in outputs["output_probability"][0].items()
    ]


def test_static_labels(static_classifier: BuiltModel) -> None:
    outputs = run_direct(static_classifier)
    probabilities = outputs["probabilities"]
    formatter = OutputFormatter(static_classifier.spec)
    assert formatter.output_names == ("probabilities",)

    results = formatter.format(outputs)
    best = formatter.format(outputs, 1)

    for row in range(len(ROWS)):
        assert results[row]["classifications"] == [
            {"label": name, "probability": as_float(p)}
            for name, p in zip(IRIS_NAMES, probabilities[row], strict=True)
        ]
        winner = int(np.argmax(probabilities[row]))
        assert best[row]["classifications"] == [
            {"label": IRIS_NAMES[winner], "probability": as_float(probabilities[row, winner])}
        ]


@pytest.mark.parametrize("int_labels", [False, True])
def test_labels_from_a_label_output(tmp_path: Path, int_labels: bool) -> None:
    model = make_label_output_classifier(tmp_path, int_labels=int_labels)
    formatter = OutputFormatter(model.spec)
    assert formatter.output_names == ("probs", "labels")
    x = np.array([[1.0, 0.0], [0.0, 3.0]], np.float32)
    outputs = run_direct(model, {"x": x})

    results = formatter.format(outputs, 2)

    names = ["10", "20", "30"] if int_labels else ["low", "mid", "high"]
    for row in range(2):
        order = np.argsort(-outputs["probs"][row], kind="stable")[:2]
        assert results[row]["classifications"] == [
            {"label": names[j], "probability": as_float(outputs["probs"][row, j])} for j in order
        ]


def test_per_row_label_tensor(label_output: BuiltModel) -> None:
    """A ``[batch, nClasses]`` label tensor: shared when its rows agree, per row when they differ."""
    formatter = OutputFormatter(label_output.spec)
    probs = np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)
    same = {"probs": probs, "labels": np.array([["a", "b"], ["a", "b"]], dtype=object)}
    differ = {"probs": probs, "labels": np.array([["a", "b"], ["c", "d"]], dtype=object)}
    assert [r["classifications"][0]["label"] for r in formatter.format(same)] == ["a", "a"]
    assert [r["classifications"][0]["label"] for r in formatter.format(differ, 1)] == ["b", "c"]
    with pytest.raises(ScoringFailed, match="label output 'labels' has 3 values for 2 classes"):
        formatter.format({"probs": probs, "labels": np.array(["a", "b", "c"], dtype=object)})


def test_kmeans_distances_sorted_ascending(kmeans: BuiltModel) -> None:
    outputs = run_direct(kmeans)
    scores = outputs["scores"]
    formatter = OutputFormatter(kmeans.spec)

    results = formatter.format(outputs)
    nearest = formatter.format(outputs, 1)

    for row in range(len(ROWS)):
        order = np.argsort(scores[row], kind="stable")
        assert results[row] == {
            "clusters": [{"clusterId": str(j), "distance": as_float(scores[row, j])} for j in order]
        }
        assert nearest[row]["clusters"] == [
            {"clusterId": str(outputs["label"][row]), "distance": as_float(scores[row].min())}
        ]


def test_cluster_labels_from_label_txt(tmp_path: Path) -> None:
    model = make_kmeans(tmp_path, labels=("north", "south", "east"))
    outputs = run_direct(model)
    results = OutputFormatter(model.spec).format(outputs, 1)
    assert [item["clusters"][0]["clusterId"] for item in results] == [
        ("north", "south", "east")[label] for label in outputs["label"]
    ]


def test_gmm_probabilities_sorted_descending(gmm: BuiltModel) -> None:
    outputs = run_direct(gmm)
    probabilities = outputs["probabilities"]

    results = OutputFormatter(gmm.spec).format(outputs)
    top2 = OutputFormatter(gmm.spec).format(outputs, 2)

    for row in range(len(ROWS)):
        order = np.argsort(-probabilities[row], kind="stable")
        expected = [{"clusterId": str(j), "probability": as_float(probabilities[row, j])} for j in order]
        assert results[row] == {"clusters": expected}
        assert top2[row] == {"clusters": expected[:2]}
        assert expected[0]["clusterId"] == str(outputs["label"][row, 0])


def test_feature_extraction_flattens_rows(feature_extractor: BuiltModel) -> None:
    images = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
    outputs = run_direct(feature_extractor, {"image": images})
    assert outputs["features"].shape == (2, 2, 3, 1)

    results = OutputFormatter(feature_extractor.spec).format(outputs, 3)

    assert results == [{"doubleWeights": [as_float(v) for v in row.ravel()]} for row in outputs["features"]]


def spec_for(function: Function, **fields: Any) -> ScoringSpec:
    from omlsvc.core.signature import ModelType, TensorInfo, ValueKind

    output = TensorInfo("out", ValueKind.TENSOR, "FLOAT", (-1, -1))
    values: dict[str, Any] = {
        "model_type": ModelType.ONNX,
        "function": function,
        "inputs": (TensorInfo("x", ValueKind.TENSOR, "FLOAT", (-1, 2)),),
        "outputs": (output,),
        "output": "out",
    }
    values.update(fields)
    return ScoringSpec(**values)


def test_ties_keep_label_order_and_nan_sorts_last() -> None:
    spec = spec_for(Function.CLASSIFICATION, label_source=LabelSource.STATIC, labels=("a", "b", "c", "d"))
    outputs = {"out": np.array([[0.25, 0.25, 0.25, 0.25], [np.nan, 0.1, 0.9, 0.0]], np.float32)}
    results = OutputFormatter(spec).format(outputs, 4)
    assert [c["label"] for c in results[0]["classifications"]] == ["a", "b", "c", "d"]
    assert [c["label"] for c in results[1]["classifications"]] == ["c", "b", "d", "a"]


def test_double_outputs_are_kept_exactly() -> None:
    spec = spec_for(Function.REGRESSION)
    assert OutputFormatter(spec).format({"out": np.array([[0.1], [1e300]])}) == [
        {"regression": 0.1},
        {"regression": 1e300},
    ]
    float32 = OutputFormatter(spec).format({"out": np.array([[0.1]], np.float32)})
    assert float32 == [{"regression": 0.10000000149011612}]


@pytest.mark.parametrize("top_n", [0, -1, True, 1.5, "2"])
def test_top_n_must_be_a_positive_integer(gmm: BuiltModel, top_n: Any) -> None:
    with pytest.raises(InvalidInput, match="topN must be a positive integer"):
        OutputFormatter(gmm.spec).format(run_direct(gmm), top_n)


def test_label_count_mismatch_is_a_scoring_failure() -> None:
    spec = spec_for(Function.CLASSIFICATION, label_source=LabelSource.STATIC, labels=("a", "b"))
    with pytest.raises(ScoringFailed, match="returned 3 classes but 2 labels are stored"):
        OutputFormatter(spec).format({"out": np.zeros((1, 3), np.float32)})


def test_missing_output_is_a_scoring_failure(regressor: BuiltModel) -> None:
    with pytest.raises(ScoringFailed, match="did not return output 'variable'"):
        OutputFormatter(regressor.spec).format({})


def test_regression_needs_one_value_per_row() -> None:
    with pytest.raises(ScoringFailed, match="2 values per row"):
        OutputFormatter(spec_for(Function.REGRESSION)).format({"out": np.zeros((3, 2), np.float32)})


def test_clustering_needs_a_measure() -> None:
    with pytest.raises(ScoringFailed, match="clustering measure"):
        OutputFormatter(spec_for(Function.CLUSTERING))


# -- column-wise results for batch jobs (issue 20): the same entries as format(), column by column --


def as_columns(results: list[dict[str, Any]], top_n: int) -> tuple[list[list[Any]], list[list[Any]]]:
    """``format()``'s items rearranged as ``ranked()`` lists them, padded with None."""
    names: list[list[Any]] = [[] for _ in range(top_n)]
    values: list[list[Any]] = [[] for _ in range(top_n)]
    for result in results:
        (items,) = result.values()
        for k in range(top_n):
            entry = list(items[k].values()) if k < len(items) else [None, None]
            names[k].append(entry[0])
            values[k].append(entry[1])
    return names, values


@pytest.mark.parametrize("fixture", ["zipmap_str", "zipmap_int", "static_classifier", "kmeans", "gmm"])
@pytest.mark.parametrize("top_n", [1, 2, 5])
def test_ranked_columns_equal_formatted_results(
    fixture: str, top_n: int, request: pytest.FixtureRequest
) -> None:
    model: BuiltModel = request.getfixturevalue(fixture)
    outputs = run_direct(model)
    formatter = OutputFormatter(model.spec)

    ranked = formatter.ranked(outputs, top_n)

    assert ranked.rows == len(ROWS)
    assert (ranked.names, ranked.values) == as_columns(formatter.format(outputs, top_n), top_n)


def test_ranked_columns_of_per_row_labels_ties_and_nan() -> None:
    spec = spec_for(Function.CLASSIFICATION, label_source=LabelSource.STATIC, labels=("a", "b", "c", "d"))
    outputs = {"out": np.array([[0.25, 0.25, 0.25, 0.25], [np.nan, 0.1, 0.9, 0.0]], np.float32)}
    ranked = OutputFormatter(spec).ranked(outputs, 4)
    assert [column[1] for column in ranked.names] == ["c", "b", "d", "a"]
    names, values = as_columns(OutputFormatter(spec).format(outputs, 4), 4)
    assert ranked.names == names
    assert np.array_equal(np.array(ranked.values), np.array(values), equal_nan=True)


def test_ranked_columns_of_a_per_row_label_tensor(label_output: BuiltModel) -> None:
    formatter = OutputFormatter(label_output.spec)
    probs = np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)
    differ = {"probs": probs, "labels": np.array([["a", "b"], ["c", "d"]], dtype=object)}
    ranked = formatter.ranked(differ, 2)
    assert (ranked.names, ranked.values) == as_columns(formatter.format(differ, 2), 2)
    assert ranked.names[0] == ["b", "c"]


def test_ranked_regression_and_features(regressor: BuiltModel, feature_extractor: BuiltModel) -> None:
    outputs = run_direct(regressor, {"X": np.array([[0.1, 0.2, 0.3], [1, -1, 2]], np.float32)})
    ranked = OutputFormatter(regressor.spec).ranked(outputs, 1)
    assert ranked.names == []
    assert ranked.values == [[r["regression"] for r in OutputFormatter(regressor.spec).format(outputs)]]

    images = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
    features = run_direct(feature_extractor, {"image": images})
    top = OutputFormatter(feature_extractor.spec).ranked(features, 3)
    for row, weights in enumerate(features["features"].reshape(2, -1).astype(np.float64)):
        order = np.argsort(-weights, kind="stable")[:3]
        assert [column[row] for column in top.names] == order.tolist()
        assert [column[row] for column in top.values] == weights[order].tolist()


@pytest.mark.parametrize("top_n", [0, -1, True, 1.5])
def test_ranked_top_n_must_be_a_positive_integer(gmm: BuiltModel, top_n: Any) -> None:
    with pytest.raises(InvalidInput, match="topN must be a positive integer"):
        OutputFormatter(gmm.spec).ranked(run_direct(gmm), top_n)
