"""Swapping the model under a live URI, rolling back, and a canary beside the main model (our extension).

Every score answer names the model that computed it in ``X-Omlsvc-Model-Id``; each answer is checked
against onnxruntime run directly on that model.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
import numpy as np
import onnxruntime as ort
import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.rest.app import create_app
from omlsvc.wiring import build_services
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model

DEPLOYMENTS = "/omlmod/v1/deployment"
ROW = [[1.0, 2.0, 3.0]]


@dataclass
class Stored:
    id: str
    zoo: modelzoo.ZooModel

    def expected(self, rows: list[list[float]]) -> list[float]:
        session = ort.InferenceSession(self.zoo.onnx_bytes, providers=["CPUExecutionProvider"])
        [out] = session.run(None, {"float_input": np.array(rows, np.float32)})
        return [float(v) for v in out[:, 0]]


def store(caller: Caller, tmp_path: Path, weights: list[float], name: str) -> Stored:
    zoo = modelzoo.make_linear_regressor_zip(tmp_path, weights, stem=name)
    return Stored(store_model(caller, zoo.zip_path, name=name), zoo)


@pytest.fixture
def models(alice: Caller, tmp_path: Path) -> dict[str, Stored]:
    """Three regressors alice owns that answer differently, and one with four inputs."""
    return {
        "old": store(alice, tmp_path, [1.0, 0.0, 0.0], "house_v1"),
        "new": store(alice, tmp_path, [0.0, 10.0, 0.0], "house_v2"),
        "third": store(alice, tmp_path, [0.0, 0.0, 100.0], "house_v3"),
        "wide": store(alice, tmp_path, [1.0, 1.0, 1.0, 1.0], "house_wide"),
    }


@pytest.fixture
def house(alice: Caller, models: dict[str, Stored]) -> str:
    result = alice.post(DEPLOYMENTS, json={"modelId": models["old"].id, "uri": "house"})
    assert result.status_code == 201, result.text
    return "house"


def grant(owner: Caller, model_id: str, user: str) -> None:
    result = owner.post(f"/omlmod/v1/models/{model_id}/grants", json={"user": user, "permission": "VIEW"})
    assert result.status_code in (200, 201), result.text


def score(caller: Caller, uri: str, rows: list[list[float]] = ROW, route_key: str | None = None):
    headers = {} if route_key is None else {"X-Omlsvc-Route-Key": route_key}
    result = caller.post(
        f"{DEPLOYMENTS}/{uri}/score", json={"inputRecords": [{"float_input": rows}]}, headers=headers
    )
    assert result.status_code == 200, result.text
    return result.headers["X-Omlsvc-Model-Id"], [r["regression"] for r in result.json["scoringResults"]]


def answered_by(caller: Caller, uri: str, models: dict[str, Stored], **kwargs: object) -> str:
    """The model that answered one score, checked against onnxruntime's output for it."""
    model_id, values = score(caller, uri, **kwargs)  # type: ignore[arg-type]
    [model] = [m for m in models.values() if m.id == model_id]
    assert values == pytest.approx(model.expected(ROW), rel=1e-6)
    return model_id


def test_a_swap_serves_the_new_model_under_the_same_uri(
    alice: Caller, models: dict[str, Stored], house: str
) -> None:
    assert answered_by(alice, house, models) == models["old"].id
    result = alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": models["new"].id})
    assert result.status_code == 200, result.text
    assert (result.json["uri"], result.json["modelId"]) == (house, models["new"].id)
    assert answered_by(alice, house, models) == models["new"].id
    assert alice.get(f"{DEPLOYMENTS}/{house}").json["modelId"] == models["new"].id


def test_a_model_whose_inputs_the_clients_cannot_send_is_refused_unless_forced(
    alice: Caller, models: dict[str, Stored], house: str, tmp_path: Path
) -> None:
    wide = alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": models["wide"].id})
    assert wide.status_code == 400
    assert wide.json["code"] == "INVALID_INPUT"
    assert "shape [-1, 4] instead of [-1, 3]" in " ".join(wide.json["details"])
    clusters = store_model(alice, modelzoo.make_kmeans_zip(tmp_path).zip_path, name="segments")
    other_function = alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": clusters})
    assert other_function.status_code == 400
    assert any("mining function" in d for d in other_function.json["details"])
    assert answered_by(alice, house, models) == models["old"].id

    forced = alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": models["wide"].id, "force": True})
    assert forced.status_code == 200, forced.text
    assert alice.get(f"{DEPLOYMENTS}/{house}").json["modelId"] == models["wide"].id


def test_the_history_lists_every_switch_newest_first_and_rollback_returns_to_the_previous_model(
    alice: Caller, models: dict[str, Stored], house: str
) -> None:
    alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": models["new"].id})
    alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": models["third"].id})
    back = alice.post(f"{DEPLOYMENTS}/{house}/rollback")
    assert back.status_code == 200, back.text
    assert back.json["modelId"] == models["new"].id
    assert answered_by(alice, house, models) == models["new"].id

    history = alice.get(f"{DEPLOYMENTS}/{house}/history").json["items"]
    assert [(h["seq"], h["action"], h["modelId"], h["previousModelId"]) for h in history] == [
        (4, "rollback", models["new"].id, models["third"].id),
        (3, "swap", models["third"].id, models["new"].id),
        (2, "swap", models["new"].id, models["old"].id),
        (1, "deploy", models["old"].id, None),
    ]
    assert {h["switchedBy"] for h in history} == {"alice"}
    assert all(h["switchedOn"].endswith("Z") for h in history)
    # a second rollback undoes the first
    assert alice.post(f"{DEPLOYMENTS}/{house}/rollback").json["modelId"] == models["third"].id


def test_rollback_without_a_previous_model_is_a_conflict(alice: Caller, house: str) -> None:
    result = alice.post(f"{DEPLOYMENTS}/{house}/rollback")
    assert result.status_code == 409
    assert "no previous model" in result.json["message"]


def test_a_canary_scores_its_share_of_requests_each_answer_from_the_model_named(
    alice: Caller, models: dict[str, Stored], house: str
) -> None:
    result = alice.put(
        f"{DEPLOYMENTS}/{house}", json={"canary": {"modelId": models["new"].id, "percent": 10}}
    )
    assert result.status_code == 200, result.text
    assert result.json["canary"] == {"modelId": models["new"].id, "percent": 10}
    old, new = models["old"], models["new"]
    expected = {old.id: old.expected(ROW), new.id: new.expected(ROW)}
    counts: Counter[str] = Counter()
    for _ in range(2000):
        model_id, values = score(alice, house)
        assert values == pytest.approx(expected[model_id], rel=1e-6)
        counts[model_id] += 1
    assert set(counts) == {old.id, new.id}
    assert 0.07 <= counts[new.id] / 2000 <= 0.13, counts


def test_a_route_key_always_meets_the_same_model(
    alice: Caller, models: dict[str, Stored], house: str
) -> None:
    alice.put(f"{DEPLOYMENTS}/{house}", json={"canary": {"modelId": models["new"].id, "percent": 50}})
    seen = {
        key: {answered_by(alice, house, models, route_key=key) for _ in range(8)}
        for key in (f"customer-{n}" for n in range(20))
    }
    assert all(len(ids) == 1 for ids in seen.values()), seen
    # both models get keys: the keys are spread, not all sent one way
    assert {next(iter(ids)) for ids in seen.values()} == {models["old"].id, models["new"].id}
    bad = alice.post(
        f"{DEPLOYMENTS}/{house}/score",
        json={"inputRecords": [{"float_input": ROW}]},
        headers={"X-Omlsvc-Route-Key": "k" * 201},
    )
    assert bad.status_code == 400


def test_promote_makes_the_canary_the_main_model_and_removing_it_stops_it_at_once(
    alice: Caller, models: dict[str, Stored], house: str
) -> None:
    alice.put(f"{DEPLOYMENTS}/{house}", json={"canary": {"modelId": models["new"].id, "percent": 99}})
    removed = alice.put(f"{DEPLOYMENTS}/{house}", json={"canary": None})
    assert removed.status_code == 200 and "canary" not in removed.json
    assert {answered_by(alice, house, models) for _ in range(30)} == {models["old"].id}

    alice.put(f"{DEPLOYMENTS}/{house}", json={"canary": {"modelId": models["third"].id, "percent": 1}})
    promoted = alice.put(f"{DEPLOYMENTS}/{house}", json={"promote": True})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json["modelId"] == models["third"].id and "canary" not in promoted.json
    assert {answered_by(alice, house, models) for _ in range(10)} == {models["third"].id}
    actions = [h["action"] for h in alice.get(f"{DEPLOYMENTS}/{house}/history").json["items"]]
    assert actions == ["promote", "canary", "canary-removed", "canary", "deploy"]
    # nothing left to promote: a conflict with the deployment's state, not a malformed request
    assert alice.put(f"{DEPLOYMENTS}/{house}", json={"promote": True}).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"canary": {"modelId": "x", "percent": 0}},
        {"canary": {"modelId": "x", "percent": 100}},
        {"canary": {"modelId": "x", "percent": 10.5}},
        {"canary": {"modelId": "x"}},
        {"promote": True, "modelId": "x"},
        {"modelId": 7},
        {"modelId": "x", "force": "yes"},
        {"modelId": "x", "surprise": 1},
    ],
)
def test_malformed_changes_are_bad_requests(alice: Caller, house: str, body: dict[str, object]) -> None:
    result = alice.put(f"{DEPLOYMENTS}/{house}", json=body)
    assert result.status_code == 400, result.text
    assert result.json["code"] == "INVALID_INPUT"


def test_only_the_owner_or_an_admin_changes_a_deployment(
    alice: Caller, bob: Caller, admin: Caller, models: dict[str, Stored], house: str, tmp_path: Path
) -> None:
    change = {"modelId": models["new"].id}
    assert bob.put(f"{DEPLOYMENTS}/{house}", json=change).status_code == 404
    assert bob.post(f"{DEPLOYMENTS}/{house}/rollback").status_code == 404
    assert bob.get(f"{DEPLOYMENTS}/{house}/history").status_code == 404
    grant(alice, models["old"].id, "bob")
    assert bob.put(f"{DEPLOYMENTS}/{house}", json=change).status_code == 403
    assert bob.get(f"{DEPLOYMENTS}/{house}/history").status_code == 403
    # another user's model goes behind alice's URI only by an admin, even when alice may see it
    bobs = store(bob, tmp_path, [5.0, 5.0, 5.0], "bobs_house")
    assert alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": bobs.id}).status_code == 404
    grant(bob, bobs.id, "alice")
    assert alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": bobs.id}).status_code == 403
    assert admin.put(f"{DEPLOYMENTS}/{house}", json={"modelId": bobs.id}).status_code == 200
    assert admin.post(f"{DEPLOYMENTS}/{house}/rollback").status_code == 200
    assert alice.get(f"{DEPLOYMENTS}/{house}").json["modelId"] == models["old"].id


def test_a_model_deployed_elsewhere_cannot_be_swapped_in(
    alice: Caller, models: dict[str, Stored], house: str
) -> None:
    alice.post(DEPLOYMENTS, json={"modelId": models["new"].id, "uri": "elsewhere"})
    result = alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": models["new"].id})
    assert result.status_code == 409
    canary = alice.put(f"{DEPLOYMENTS}/{house}", json={"canary": {"modelId": models["new"].id, "percent": 5}})
    assert canary.status_code == 409


def test_the_main_or_canary_model_of_a_deployment_cannot_be_deleted(
    alice: Caller, models: dict[str, Stored], house: str
) -> None:
    alice.put(f"{DEPLOYMENTS}/{house}", json={"canary": {"modelId": models["new"].id, "percent": 5}})
    for model in (models["old"], models["new"]):
        result = alice.delete(f"/omlmod/v1/models/{model.id}")
        assert result.status_code == 409, result.text
    alice.put(f"{DEPLOYMENTS}/{house}", json={"canary": None})
    assert alice.delete(f"/omlmod/v1/models/{models['new'].id}").status_code == 204
    assert alice.delete(f"{DEPLOYMENTS}/{house}").status_code == 204
    assert alice.delete(f"/omlmod/v1/models/{models['old'].id}").status_code == 204


def test_another_worker_loads_the_swapped_in_model_before_its_next_score_there(
    alice: Caller, models: dict[str, Stored], house: str, settings: Settings, database: tuple[str, Engine]
) -> None:
    """A second worker (its own engine, services and caches) that served the URI loads the new model's
    session in the background as soon as it sees the change counter move: here on a request to another
    route, before any score of the URI reaches it."""
    engine = make_engine(database[0])
    try:
        services = build_services(settings, engine=engine)
        other = Caller(
            falcon.testing.TestClient(create_app(settings, services=services)), "alice", alice.token
        )
        assert answered_by(other, house, models) == models["old"].id
        new_sha = hashlib.sha256(models["new"].zoo.zip_path.read_bytes()).hexdigest()
        assert new_sha not in services.scoring.cache

        assert alice.put(f"{DEPLOYMENTS}/{house}", json={"modelId": models["new"].id}).status_code == 200
        deadline = time.monotonic() + 10
        while new_sha not in services.scoring.cache:
            assert time.monotonic() < deadline, "the other worker did not load the new model"
            assert other.get("/omlmod/v1/models").status_code == 200  # polls the change counter
            time.sleep(0.1)
        assert answered_by(other, house, models) == models["new"].id
    finally:
        engine.dispose()


@pytest.mark.parametrize("model_id", ["nul\u0000byte", "x" * 10_000, "../etc"])
def test_a_model_id_that_cannot_be_a_models_is_not_found(alice: Caller, house: str, model_id: str) -> None:
    for body in ({"modelId": model_id}, {"canary": {"modelId": model_id, "percent": 10}}):
        result = alice.put(f"{DEPLOYMENTS}/{house}", json=body)
        assert result.status_code in (400, 404), result.text
