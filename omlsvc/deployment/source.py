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

#: Targets a worker keeps (forgotten all at once beyond this: they are rebuilt in microseconds).
MAX_TARGETS = 1024


class DeployedModels:
    def __init__(self, deployments: DeploymentService, models: ModelService) -> None:
        self._deployments = deployments
        self._models = models
        #: id(record) -> (record, its target): the worker cache hands out the same record object until
        #: a change replaces it, so its target is built once, not per score request (issue 20).
        self._targets: dict[int, tuple[DeploymentRecord, ScoringTarget]] = {}

    def deployment(self, principal: Principal, uri: str) -> ScoringTarget:
        record = self._deployments.lookup_deployment(principal, uri)
        known = self._targets.get(id(record))
        if known is not None and known[0] is record:
            return known[1]
        target = _target(record)
        if len(self._targets) >= MAX_TARGETS:
            self._targets.clear()
        self._targets[id(record)] = (record, target)
        return target

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
        batching=record.batching,
    )


def _to_score(model: ModelRecord) -> ModelToScore:
    return ModelToScore(id=model.id, sha256=model.sha256, spec_json=model.spec_json)
