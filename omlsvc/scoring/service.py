"""The score use case: find the deployment, get the worker's prepared model, score.

Per request this costs no database round trip: the deployment (joined with its model) comes from
the worker's cache, which the change counter keeps within a second of the database (an undeploy is
seen at once by the worker that made it, within a second by every other one; see
``omlsvc.db.changes``); visibility is checked per caller. A model this worker has not loaded yet
costs one fetch of its BLOB into the host's disk cache and one session build.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from omlsvc.authorization import Principal, require_principal
from omlsvc.deployment.service import DeploymentService
from omlsvc.errors import InvalidInput
from omlsvc.repository.service import ModelService
from omlsvc.repository.store import ModelRecord
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.outputs import Result
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.sessions import SessionCache
from omlsvc.signature import ModelType, ScoringSpec

log = logging.getLogger(__name__)


#: How often a model is fetched again when its disk cache vanishes while it loads (an operator
#: cleaning the cache directory); each attempt re-reads the BLOB from the database.
CACHE_ATTEMPTS = 5


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
        require_principal(principal)
        top_n = parse_top_n(body.get("topN"))
        parse_top_n(body.get("topNdetails"), "topNdetails")
        if "inputRecords" not in body:
            raise InvalidInput(
                "inputRecords is required: a list of records mapping ONNX input names to values."
            )
        model = self._prepared(principal, uri)
        return model.score_records(body["inputRecords"], top_n)

    def score_images(
        self, principal: Principal, uri: str, images: Sequence[bytes], top_n: int | None
    ) -> list[Result]:
        """Score uploaded image files (the multipart ``imageData`` form of image models)."""
        require_principal(principal)
        model = self._prepared(principal, uri)
        if model.spec.model_type is not ModelType.ONNX_IMG:
            raise InvalidInput(
                f"The model at {uri!r} is not an image model; send JSON inputRecords instead of imageData."
            )
        return model.score_images(images, top_n)

    def prepare_deployed(self, record: ModelRecord) -> None:
        """Make a just-deployed model ready in this worker: its files in the host's disk cache and its
        session built (and warmed up when the settings say so), so that the first score after a deploy
        does not pay for the fetch; other workers of the host then only build a session. Never raises:
        the deployment stands, and a model that cannot load fails its score requests with the reason."""
        try:
            self.prepared_for_model(record)
        except Exception as exc:
            log.warning("could not prepare model %s after its deployment: %s", record.id, exc)

    def _prepared(self, principal: Principal, uri: str) -> PreparedModel:
        # built for a waiting request, a session is not warmed up: the request's own run does that.
        record = self._deployments.lookup_deployment(principal, uri).model
        return self.prepared_for_model(record, warm_up=False)

    def prepared_for_model(self, record: ModelRecord, *, warm_up: bool | None = None) -> PreparedModel:
        """The worker's prepared model for a stored model (batch jobs score through this too, so a
        table row and a REST record are scored by the same code). The caller checks visibility.
        ``warm_up`` overrides the cache's setting for a session built by this call."""
        loaded = self._cache.peek(record.sha256)
        if loaded is not None:
            return loaded.model
        spec = ScoringSpec.from_json(record.spec_json)
        for attempt in range(1, CACHE_ATTEMPTS + 1):
            try:
                self._files.ensure(record.sha256, self._models.iter_content(record))
                return self._cache.get(record.sha256, spec, warm_up=warm_up).model
            except (FileNotFoundError, FileExistsError):
                # Both are how a cache folder removed mid-load shows (pathlib's mkdir(exist_ok=True)
                # raises FileExistsError when the folder it just made is gone before it checks).
                if attempt == CACHE_ATTEMPTS:  # the disk cache keeps vanishing: give up on this request
                    raise
        raise AssertionError("unreachable")
