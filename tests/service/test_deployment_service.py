"""Deployment use cases (``DeploymentService``) and the ``ModelSource`` scoring reads them through
(``omlsvc.deployment.source``), over a recording unit-of-work factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from omlsvc.core.errors import Conflict, Forbidden, InvalidModel, NotFound
from omlsvc.deployment.service import DeploymentService
from omlsvc.deployment.source import DeployedModels
from omlsvc.repository.rows import ModelRecord
from omlsvc.repository.service import ModelService
from omlsvc.scoring.source import ModelToScore
from tests import modelzoo
from tests.service.conftest import ALICE, BOB, store
from tests.service.fakes import RecordingTransactions


@pytest.fixture
def house(models: ModelService, tmp_path: Path) -> ModelRecord:
    return store(models, ALICE, modelzoo.make_regressor_zip(tmp_path), shared=True)


def test_a_deployment_is_found_at_its_uri_with_its_time_limit(
    deployments: DeploymentService, house: ModelRecord
) -> None:
    deployed = deployments.deploy(ALICE, house.id, "house", 2.5)

    assert deployments.get_deployment(BOB, "house") == deployed
    assert deployed.model == house and deployed.score_timeout_s == 2.5


def test_a_model_refused_by_its_preparation_leaves_no_deployment(
    deployments: DeploymentService, transactions: RecordingTransactions, house: ModelRecord
) -> None:
    prepared: list[tuple[str, float | None]] = []

    def refuse(model: ModelRecord, timeout_s: float | None, output_tensor: str | None) -> None:
        prepared.append((model.id, timeout_s))
        raise InvalidModel("it does not load")

    transactions.forget()
    with pytest.raises(InvalidModel):
        deployments.deploy(ALICE, house.id, "house", prepare=refuse)

    assert prepared == [(house.id, None)]
    assert "write" not in transactions.opened
    with pytest.raises(NotFound):
        deployments.get_deployment(ALICE, "house")


def test_only_the_owner_deploys_and_a_model_has_one_deployment(
    deployments: DeploymentService, house: ModelRecord
) -> None:
    with pytest.raises(Forbidden):
        deployments.deploy(BOB, house.id, "mine")
    deployments.deploy(ALICE, house.id, "house")
    with pytest.raises(Conflict, match="already deployed"):
        deployments.deploy(ALICE, house.id, "house_2")


def test_the_score_path_reads_a_deployment_once_and_sees_an_undeploy_at_once(
    deployments: DeploymentService, transactions: RecordingTransactions, house: ModelRecord
) -> None:
    deployments.deploy(ALICE, house.id, "house")
    transactions.forget()

    deployments.lookup_deployment(BOB, "house")
    deployments.lookup_deployment(BOB, "house")
    assert transactions.opened == ["read"]  # the second lookup costs no database round trip

    deployments.undeploy(ALICE, "house")

    assert transactions.announced == ["changed"]
    with pytest.raises(NotFound):
        deployments.lookup_deployment(BOB, "house")


def test_scoring_sees_a_deployment_as_the_model_it_scores_and_its_bytes(
    deployments: DeploymentService, models: ModelService, house: ModelRecord, tmp_path: Path
) -> None:
    source = DeployedModels(deployments, models)
    deployments.deploy(ALICE, house.id, "house", 4)

    target = source.deployment(BOB, "house")

    assert target.model == ModelToScore(id=house.id, sha256=house.sha256, spec_json=house.spec_json)
    assert target.uri == "house" and target.score_timeout_s == 4
    assert b"".join(source.model_bytes(house.id)) == b"".join(models.content_of(house.id))
    deployments.undeploy(ALICE, "house")
    with pytest.raises(NotFound):
        source.deployment(BOB, "house")
