"""The :class:`~omlsvc.scoring.source.ModelSource` a worker's scoring uses: deployments from the
deployment service's worker cache, model bytes from the repository."""

from __future__ import annotations

from collections.abc import Iterator

from omlsvc.core.authorization import Principal
from omlsvc.deployment.service import DeploymentService
from omlsvc.repository.service import ModelService
from omlsvc.scoring.source import ModelToScore, ScoringTarget


class DeployedModels:
    def __init__(self, deployments: DeploymentService, models: ModelService) -> None:
        self._deployments = deployments
        self._models = models

    def deployment(self, principal: Principal, uri: str) -> ScoringTarget:
        record = self._deployments.lookup_deployment(principal, uri)
        model = record.model
        return ScoringTarget(
            uri=record.uri,
            model=ModelToScore(id=model.id, sha256=model.sha256, spec_json=model.spec_json),
            score_timeout_s=record.score_timeout_s,
        )

    def model_bytes(self, model_id: str) -> Iterator[bytes]:
        return self._models.content_of(model_id)
