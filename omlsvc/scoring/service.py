"""The score use case: find the deployment, get the worker's prepared model, score.

Per request this costs one indexed lookup (deployment joined with its model, which also checks
visibility, so an undeploy on any host is seen at once) and, for a model this worker has not
loaded yet, one fetch of its BLOB into the host's disk cache and one session build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omlsvc.auth.service import Principal
from omlsvc.deployment.service import DeploymentService
from omlsvc.errors import InvalidInput
from omlsvc.repository.service import ModelService
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.outputs import Result
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.sessions import SessionCache
from omlsvc.signature import ModelType, ScoringSpec


def parse_top_n(value: object, name: str = "topN") -> int | None:
    """``topN``: absent, or an integer of at least 1 (a numeric string is accepted from forms)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"{name} must be an integer of at least 1.")
    return value


class ScoringService:
    def __init__(
        self, deployments: DeploymentService, models: ModelService, files: ModelFiles, cache: SessionCache
    ) -> None:
        self._deployments = deployments
        self._models = models
        self._files = files
        self._cache = cache

    @property
    def cache(self) -> SessionCache:
        return self._cache

    def score_records(self, principal: Principal, uri: str, body: dict[str, Any]) -> list[Result]:
        """Score a JSON ``ScoreParam``: ``inputRecords``, optional ``topN`` (and ``topNdetails``,
        accepted and ignored for ONNX models, as OML documents)."""
        top_n = parse_top_n(body.get("topN"))
        parse_top_n(body.get("topNdetails"), "topNdetails")
        if "inputRecords" not in body:
            raise InvalidInput("inputRecords is required: a list of records mapping ONNX input names to values.")
        model = self._prepared(principal, uri)
        return model.score_records(body["inputRecords"], top_n)

    def score_images(self, principal: Principal, uri: str, images: Sequence[bytes], top_n: int | None) -> list[Result]:
        """Score uploaded image files (the multipart ``imageData`` form of image models)."""
        model = self._prepared(principal, uri)
        if model.spec.model_type is not ModelType.ONNX_IMG:
            raise InvalidInput(
                f"The model at {uri!r} is not an image model; send JSON inputRecords instead of imageData."
            )
        return model.score_images(images, top_n)

    def _prepared(self, principal: Principal, uri: str) -> PreparedModel:
        record = self._deployments.get_deployment(principal, uri).model
        loaded = self._cache.peek(record.sha256)
        if loaded is not None:
            return loaded.model
        spec = ScoringSpec.from_json(record.spec_json)
        for attempt in (1, 2):
            self._files.ensure(record.sha256, self._models.iter_content(record))
            try:
                return self._cache.get(record.sha256, spec).model
            except FileNotFoundError:
                if attempt == 2:  # the disk cache vanished twice in a row: give up on this request
                    raise
        raise AssertionError("unreachable")
