"""What scoring needs from the rest of the service, and nothing more: a narrow :class:`ModelSource`.

Scoring stands beside the stores, not on them: it never imports the deployment or repository
packages. It asks its :class:`ModelSource` for the deployment a caller may score at a URI (reduced to
the :class:`ScoringTarget` it needs) and for the stored bytes of a model when a worker has not
cached them yet. The wiring module plugs in the implementation (``omlsvc.deployment.source``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from omlsvc.core.authorization import Principal


class ScorableModel(Protocol):
    """A stored model as scoring reads it: its id (to fetch its bytes), the sha256 of its zip (the key
    of every cache) and its scoring spec as JSON. A repository record has these attributes too."""

    @property
    def id(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def spec_json(self) -> str: ...


@dataclass(frozen=True)
class ModelToScore:
    """A :class:`ScorableModel` of scoring's own, holding just what scoring reads."""

    id: str
    sha256: str
    spec_json: str


@dataclass(frozen=True)
class ScoringTarget:
    """A deployment a caller may score: its model, and its own time limit for a model run (seconds;
    None for the worker's default)."""

    uri: str
    model: ModelToScore
    score_timeout_s: float | None = None
    #: a canary beside the main model, and the percent (1-99) of score requests it gets.
    canary: ModelToScore | None = None
    canary_percent: int = 0
    #: a deployment that cuts its model at this value: it scores as feature extraction on it.
    output_tensor: str | None = None


class ModelSource(Protocol):
    """Where scoring finds deployments and model bytes."""

    def deployment(self, principal: Principal, uri: str) -> ScoringTarget:
        """The deployment at ``uri`` if ``principal`` may score it (``NotFound`` otherwise). Called on
        every score: it must answer from memory, and see an undeploy in this worker at once."""
        ...

    def serving(self, uri: str) -> ScoringTarget | None:
        """What the URI serves, for this worker's own use (warming sessions after a change): no
        caller, no visibility check, nothing of it reaches an answer. None when nothing is there."""
        ...

    def model_bytes(self, model_id: str) -> Iterable[bytes]:
        """The stored zip of a model, chunk by chunk. A model deleted meanwhile yields fewer bytes
        (the caller checks them against the sha256), never other bytes."""
        ...
