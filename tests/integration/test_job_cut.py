"""Batch jobs with ``outputTensor`` (issue 16): a classifier cut into a feature extractor writes
``OML$FEATURE_IDk, OML$WEIGHTk`` rows of that intermediate value, on each supported database.

The reference is onnxruntime on ``onnx.utils.extract_model`` of the same graph, up to that value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort

from omlsvc.wiring import Services
from tests import modelzoo
from tests.integration.test_job_runner import ALICE, features, last_run, runner, store, submit
from tests.jobdata import InputTables, read_table

ROWS = 300


def classifier(tmp_path: Path) -> modelzoo.ZooModel:
    model = modelzoo.make_tabular_model({"probabilities": "probabilities"})
    return modelzoo.zip_package(
        tmp_path, "iris", model, {"function": "classification"}, modelzoo.IRIS_CLASSES
    )


def test_a_cut_job_writes_the_intermediate_value_as_features(
    both: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = both
    zoo = classifier(tmp_path)
    x = features(ROWS)
    table = tables.features("cut", x)
    job_id = submit(services, store(services, zoo, "iris"), table, outputTensor="scores_out", topN=3)

    runner(services).run_until_idle()

    assert last_run(services, job_id).status == "SUCCEEDED"
    assert services.jobs.get(ALICE, job_id).properties.output_tensor == "scores_out"
    rows = sorted(read_table(services.engine, f"{job_id}_OUT"), key=lambda row: row["id"])
    assert list(rows[0]) == [
        "id",
        "species",
        *(f"OML${kind}{k}" for k in range(1, 4) for kind in ("FEATURE_ID", "WEIGHT")),
    ]
    onnx.save(zoo.model, str(tmp_path / "whole.onnx"))
    onnx.utils.extract_model(
        str(tmp_path / "whole.onnx"), str(tmp_path / "cut.onnx"), ["float_input"], ["scores_out"]
    )
    session = ort.InferenceSession(str(tmp_path / "cut.onnx"), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"float_input": x})
    order = np.argsort(-expected, axis=1, kind="stable")
    assert len(rows) == ROWS
    for row, ids, weights in zip(rows, order, np.take_along_axis(expected, order, 1), strict=True):
        assert [row[f"OML$FEATURE_ID{k}"] for k in range(1, 4)] == ids.tolist()
        np.testing.assert_allclose([row[f"OML$WEIGHT{k}"] for k in range(1, 4)], weights, rtol=1e-5)


def test_a_job_cut_at_a_value_the_graph_lacks_fails_naming_the_field(
    both: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = both
    table = tables.features("cut", features(10))
    job_id = submit(
        services, store(services, classifier(tmp_path), "iris"), table, outputTensor="nope", topN=2
    )

    runner(services).run_until_idle()

    run = last_run(services, job_id)
    assert run.status == "FAILED"
    assert "outputTensor" in run.error_message and "'nope'" in run.error_message
