"""The score use case (``ScoringService``) over a hand-written :class:`FakeModelSource`: no database,
no HTTP; real tiny models, real sessions, a real disk cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import InvalidInput, InvalidModel, NotFound, ScoringFailed, Unauthorized, Unavailable
from omlsvc.core.signature import ModelType
from omlsvc.scoring.source import ModelToScore
from tests import modelzoo
from tests.service.fakes import FakeModelSource, scoring_service, spec_of

ALICE = Principal("alice", ("developer",))
BOB = Principal("bob", ("developer",))


@pytest.fixture
def regressor(tmp_path: Path) -> modelzoo.ZooModel:
    return modelzoo.make_regressor_zip(tmp_path)


@pytest.fixture
def source(regressor: modelzoo.ZooModel) -> FakeModelSource:
    source = FakeModelSource()
    source.add("house", "model-1", regressor)
    return source


def records(zoo: modelzoo.ZooModel) -> dict[str, object]:
    return {"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]}


def expected_regression(zoo: modelzoo.ZooModel) -> list[float]:
    session = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
    [output] = session.run(None, {"float_input": zoo.sample["float_input"].astype(np.float32)})
    return [float(row[0]) for row in output]


def test_records_are_scored_by_the_deployed_model(
    tmp_path: Path, source: FakeModelSource, regressor: modelzoo.ZooModel
) -> None:
    scoring = scoring_service(source, tmp_path / "data")

    results = scoring.score_records(ALICE, "house", records(regressor))

    assert [r["regression"] for r in results] == pytest.approx(expected_regression(regressor), rel=1e-5)
    assert source.fetches == ["model-1"]


def test_uploaded_images_are_scored_by_an_image_model(tmp_path: Path) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    assert zoo.image_png is not None
    source = FakeModelSource()
    source.add("pets", "model-2", zoo, ModelType.ONNX_IMG)
    scoring = scoring_service(source, tmp_path / "data")

    [result] = scoring.score_images(ALICE, "pets", [zoo.image_png], 2)

    labels = [c["label"] for c in result["classifications"]]
    assert len(labels) == 2 and set(labels) <= set(modelzoo.IMAGE_CLASSES)


def test_images_sent_to_a_tabular_model_are_refused(
    tmp_path: Path, source: FakeModelSource, regressor: modelzoo.ZooModel
) -> None:
    scoring = scoring_service(source, tmp_path / "data")

    with pytest.raises(InvalidInput, match="not an image model"):
        scoring.score_images(ALICE, "house", [b"\x89PNG"], None)


def test_an_undeploy_is_seen_by_the_next_score(
    tmp_path: Path, source: FakeModelSource, regressor: modelzoo.ZooModel
) -> None:
    scoring = scoring_service(source, tmp_path / "data")
    scoring.score_records(ALICE, "house", records(regressor))

    source.undeploy("house")

    with pytest.raises(NotFound):
        scoring.score_records(ALICE, "house", records(regressor))


def test_a_deployment_the_caller_may_not_see_is_not_found(
    tmp_path: Path, source: FakeModelSource, regressor: modelzoo.ZooModel
) -> None:
    scoring = scoring_service(source, tmp_path / "data")

    with pytest.raises(NotFound):
        scoring.score_records(BOB, "house", records(regressor))
    with pytest.raises(Unauthorized):
        scoring.score_records(None, "house", records(regressor))  # type: ignore[arg-type]
    assert source.fetches == []


def test_a_model_whose_bytes_vanished_fails_and_is_fetched_again_later(
    tmp_path: Path, source: FakeModelSource, regressor: modelzoo.ZooModel
) -> None:
    scoring = scoring_service(source, tmp_path / "data")
    data = source.stored.pop("model-1")

    with pytest.raises(ScoringFailed, match="incomplete or changed"):
        scoring.score_records(ALICE, "house", records(regressor))
    assert len(scoring.cache) == 0

    source.stored["model-1"] = data
    assert len(scoring.score_records(ALICE, "house", records(regressor))) == len(
        regressor.sample["float_input"]
    )
    assert source.fetches == ["model-1", "model-1"]


def test_a_model_is_fetched_once_for_every_worker_of_the_host(
    tmp_path: Path, source: FakeModelSource, regressor: modelzoo.ZooModel
) -> None:
    first, second = scoring_service(source, tmp_path / "data"), scoring_service(source, tmp_path / "data")

    first.score_records(ALICE, "house", records(regressor))
    second.score_records(ALICE, "house", records(regressor))

    assert source.fetches == ["model-1"]
    assert len(first.cache) == len(second.cache) == 1


def test_a_model_about_to_be_deployed_is_ready_before_its_first_score(
    tmp_path: Path, source: FakeModelSource, regressor: modelzoo.ZooModel
) -> None:
    scoring = scoring_service(source, tmp_path / "data", warm_up=True)
    target = source.deployment(ALICE, "house")

    scoring.prepare_deployed(target.model)

    assert len(scoring.cache) == 1
    scoring.score_records(ALICE, "house", records(regressor))
    assert source.fetches == ["model-1"]


def test_a_model_that_does_not_load_cannot_be_deployed(tmp_path: Path, regressor: modelzoo.ZooModel) -> None:
    broken = modelzoo.write_zip(tmp_path / "broken.zip", {"model.onnx": b"not an onnx graph"})
    source = FakeModelSource()
    source.stored["model-3"] = broken.read_bytes()
    model = ModelToScore(
        id="model-3",
        sha256=hashlib.sha256(broken.read_bytes()).hexdigest(),
        spec_json=spec_of(regressor.zip_path).to_json(),
    )
    scoring = scoring_service(source, tmp_path / "data")

    with pytest.raises(InvalidModel, match="cannot be deployed: it does not load"):
        scoring.prepare_deployed(model)
    assert len(scoring.cache) == 0


@pytest.mark.parametrize("output_tensor", [None, "variable"])
def test_a_deploy_while_the_database_is_away_is_unavailable_not_an_invalid_model(
    tmp_path: Path, source: FakeModelSource, output_tensor: str | None
) -> None:
    source.database_away = True
    scoring = scoring_service(source, tmp_path / "data", warm_up=True)

    with pytest.raises(Unavailable):
        scoring.prepare_deployed(source.deployment(ALICE, "house").model, output_tensor=output_tensor)
    assert len(scoring.cache) == 0
