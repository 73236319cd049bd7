"""The :class:`~omlsvc.scoring.source.ModelSource` a worker's scoring uses: deployments from the
deployment service's worker cache, model bytes from the repository."""

from __future__ import annotations

from collections.abc import Iterator

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import NotFound
from omlsvc.deployment.records import DeploymentRecord
from omlsvc.deployment.service import DeploymentService
from omlsvc.repository.rows import ModelRecord
from omlsvc.repository.service import ModelService
from omlsvc.scoring.source import ModelToScore, ScoringTarget


class DeployedModels:
    def __init__(self, deployments: DeploymentService, models: ModelService) -> None:
        self._deployments = deployments
        self._models = models

    def deployment(self, principal: Principal, uri: str) -> ScoringTarget:
        return _target(self._deployments.lookup_deployment(principal, uri))

    def serving(self, uri: str) -> ScoringTarget | None:
        try:
            return _target(self._deployments.lookup_serving(uri))
        except NotFound:
            return None

    def model_bytes(self, model_id: str) -> Iterator[bytes]:
        return self._models.content_of(model_id)


def _target(record: DeploymentRecord) -> ScoringTarget:
    canary = record.canary
    return ScoringTarget(
        uri=record.uri,
        model=_to_score(record.model),
        score_timeout_s=record.score_timeout_s,
        canary=None if canary is None else _to_score(canary),
        canary_percent=0 if canary is None else record.canary_percent or 0,
        output_tensor=record.output_tensor,
    )


def _to_score(model: ModelRecord) -> ModelToScore:
    return ModelToScore(id=model.id, sha256=model.sha256, spec_json=model.spec_json)
