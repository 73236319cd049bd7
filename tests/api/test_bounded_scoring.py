"""Bounded work through the HTTP API: every model run has a time limit (the service's or the
deployment's own ``scoreTimeout``), a deploy whose warm-up does not finish is refused and leaves no
deployment, and answers and image batches have size limits."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model
from tests.robustness import hostile

DEPLOYMENTS = "/omlmod/v1/deployment"
#: A Loop of 500,000 iterations: about a second, well within validation's trial-run limit.
SLOW_WARM_UP = 500_000


@pytest.fixture
def settings(tmp_path: Path, database: tuple[str, Engine]) -> Settings:
    return Settings.for_tests(
        tmp_path / "data",
        database_url=database[0],
        warm_up=True,
        score_timeout_s=20,
        max_response_bytes=64 * 1024,
        max_request_pixels=3_000_000,
    )


def _deploy(caller: Caller, zip_path: Path, uri: str, model_type: str = "ONNX", **extra: object) -> None:
    model_id = store_model(caller, zip_path, name=uri, model_type=model_type)
    result = caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri, **extra})
    assert result.status_code == 201, result.text


def test_a_deployment_may_set_its_own_time_limit_up_to_an_hour(alice: Caller, tmp_path: Path) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house")
    for bad in (0, -1, 3601, "5", True, [1]):
        result = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "house", "scoreTimeout": bad})
        assert result.status_code == 400, (bad, result.text)
        assert "scoreTimeout must be a number of seconds above 0 and at most 3600" in result.json["message"]
    created = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "house", "scoreTimeout": 2.5})
    assert created.status_code == 201, created.text
    assert created.json["scoreTimeout"] == 2.5
    assert alice.get(f"{DEPLOYMENTS}/house").json["scoreTimeout"] == 2.5


def test_a_run_past_its_limit_answers_503_and_other_deployments_keep_scoring(
    alice: Caller, tmp_path: Path
) -> None:
    _deploy(alice, hostile.looping_regressor_zip(tmp_path), "looping", scoreTimeout=0.5)
    _deploy(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, "house")
    started = time.monotonic()
    hung = alice.post(f"{DEPLOYMENTS}/looping/score", json={"inputRecords": [{"x": [[1e12]]}]})
    assert time.monotonic() - started < 5
    assert hung.status_code == 503, hung.text
    assert hung.json == {
        "code": "SCORING_TIMEOUT",
        "message": "The model run was stopped at its time limit of 0.5 s.",
    }
    quick = alice.post(f"{DEPLOYMENTS}/looping/score", json={"inputRecords": [{"x": [[7.0]]}]})
    assert quick.json == {"scoringResults": [{"regression": 7.0}]}
    house = alice.post(
        f"{DEPLOYMENTS}/house/score", json={"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]]}]}
    )
    assert house.status_code == 200, house.text


def test_a_deploy_whose_warm_up_does_not_finish_in_time_is_refused_and_leaves_nothing(
    alice: Caller, tmp_path: Path
) -> None:
    model_id = store_model(alice, hostile.looping_regressor_zip(tmp_path, SLOW_WARM_UP), name="slow")
    refused = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "slow", "scoreTimeout": 0.05})
    assert refused.status_code == 400, refused.text
    assert refused.json["code"] == "INVALID_MODEL"
    assert refused.json["details"] == [
        "running the model once on a dummy batch took longer than the 0.05 s limit"
    ]
    assert alice.get(f"{DEPLOYMENTS}/slow").status_code == 404
    assert alice.get(DEPLOYMENTS).json["items"] == []
    accepted = alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "slow", "scoreTimeout": 30})
    assert accepted.status_code == 201, accepted.text


def test_an_answer_over_the_response_limit_is_413_naming_it(alice: Caller, tmp_path: Path) -> None:
    _deploy(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, "house")
    path = f"{DEPLOYMENTS}/house/score"
    small = alice.post(path, json={"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]] * 100}]})
    assert small.status_code == 200, small.text
    # 4,000 rows: at least 16 bytes each is 64,000 bytes, just within the limit before formatting, over after.
    built = alice.post(path, json={"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]] * 4000}]})
    # 10,000 rows: refused before a single result is built.
    hopeless = alice.post(path, json={"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]] * 10_000}]})
    for result, how in ((built, "The answer is "), (hopeless, "The answer would hold 10000 results")):
        assert result.status_code == 413, result.text
        assert result.json["code"] == "RESPONSE_TOO_LARGE"
        assert result.json["message"].startswith(how), result.json["message"]
        assert "over the response limit of 65536 bytes (OMLSVC_MAX_RESPONSE_BYTES)" in result.json["message"]


def test_the_pixels_of_one_request_are_bounded_over_all_its_images(alice: Caller, tmp_path: Path) -> None:
    """Each 1000 x 1000 photo costs its million pixels plus the 8 x 8 target: two fit 3,000,000, three do not."""
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    _deploy(alice, zoo.zip_path, "pets", "ONNX_IMG")
    photo = base64.b64encode(hostile.png_bomb(1000)).decode()
    path = f"{DEPLOYMENTS}/pets/score"
    two = alice.post(path, json={"inputRecords": [{"image": photo}] * 2})
    assert two.status_code == 200, two.text
    three = alice.post(path, json={"inputRecords": [{"image": photo}] * 3})
    assert three.status_code == 413, three.text
    assert three.json["code"] == "PAYLOAD_TOO_LARGE"
    assert "more than 3000000 pixels" in three.json["message"]
    assert "OMLSVC_MAX_REQUEST_PIXELS" in three.json["message"]
