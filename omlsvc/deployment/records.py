"""A deployment as the use cases and transports see it: a URI bound to one model."""

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
