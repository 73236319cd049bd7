"""A deployment as the use cases and transports see it: a URI bound to a main model, and perhaps a
canary beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omlsvc.repository.rows import ModelRecord


@dataclass(frozen=True)
class DeploymentRecord:
    uri: str
    created_at: datetime
    model: ModelRecord
    #: the deployment's own time limit for a model run; None: the service's default.
    score_timeout_s: float | None = None
    #: the canary model and the percent (1-99) of score requests it gets; None when there is none.
    canary: ModelRecord | None = None
    canary_percent: int | None = None
    #: the graph value the deployment cuts its model at (a feature extractor); None: the whole model.
    output_tensor: str | None = None


#: The actions a history entry records.
DEPLOY = "deploy"
SWAP = "swap"
ROLLBACK = "rollback"
CANARY = "canary"
PROMOTE = "promote"
CANARY_REMOVED = "canary-removed"


@dataclass(frozen=True)
class HistoryEntry:
    """One change of what a deployment serves (``deployment_history``)."""

    seq: int
    action: str
    model_id: str
    previous_model_id: str | None
    canary_model_id: str | None
    canary_percent: int | None
    switched_at: datetime
    switched_by: str
