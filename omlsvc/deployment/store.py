"""Deployments: a URI bound to one model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import Conflict
from omlsvc.db.schema import deployments, models
from omlsvc.deployment.records import DeploymentRecord
from omlsvc.repository.rows import (
    ModelFilter,
    ModelRecord,
    filter_models,
    model_columns,
    model_record,
    read_model,
    viewers_of,
    visible_to,
    with_viewers,
)

_JOINED = select(
    deployments.c.uri, deployments.c.created_at, deployments.c.score_timeout_s, *model_columns()
).join_from(deployments, models, deployments.c.model_id == models.c.id)
#: Built once: this lookup runs on every score request.
_BY_URI = _JOINED.where(deployments.c.uri == bindparam("uri"))


def _record(row: Sequence[Any]) -> DeploymentRecord:
    return DeploymentRecord(
        uri=row[0], created_at=row[1], score_timeout_s=row[2], model=model_record(row[3:])
    )


class DeploymentStore:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(
        self, uri: str, model_id: str, owner: str, created_at: datetime, score_timeout_s: float | None = None
    ) -> None:
        try:
            with self._connection.begin_nested():
                self._connection.execute(
                    insert(deployments).values(
                        uri=uri,
                        model_id=model_id,
                        owner=owner,
                        created_at=created_at,
                        score_timeout_s=score_timeout_s,
                    )
                )
        except IntegrityError:
            raise Conflict(f"The URI {uri!r} is already in use, or the model is already deployed.") from None

    def get(self, uri: str) -> DeploymentRecord | None:
        """The deployment with its model and the model's viewers (the score path caches it)."""
        row = self._connection.execute(_BY_URI, {"uri": uri}).one_or_none()
        if row is None:
            return None
        record = _record(row)
        model = replace(record.model, viewers=viewers_of(self._connection, record.model.id))
        return replace(record, model=model)

    def model(self, model_id: str) -> ModelRecord | None:
        """The model a deployment would serve, read in the deploying transaction (so the checks on
        it and the deployment's row see the same model)."""
        return read_model(self._connection, model_id)

    def uri_taken(self, uri: str) -> bool:
        return bool(self._connection.execute(select(exists().where(deployments.c.uri == uri))).scalar())

    def uri_of_model(self, model_id: str) -> str | None:
        return self._connection.execute(
            select(deployments.c.uri).where(deployments.c.model_id == model_id)
        ).scalar_one_or_none()

    def list_visible(
        self, principal: Principal, where: ModelFilter, offset: int = 0, limit: int | None = None
    ) -> list[DeploymentRecord]:
        """Deployments of the models ``principal`` may see (the same SQL condition as models)."""
        query = filter_models(_JOINED, where).where(visible_to(principal))
        query = query.order_by(deployments.c.created_at, deployments.c.uri).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        records = [_record(row) for row in self._connection.execute(query)]
        models_with_viewers = with_viewers(self._connection, [r.model for r in records])
        return [replace(r, model=m) for r, m in zip(records, models_with_viewers, strict=True)]

    def delete(self, uri: str) -> None:
        self._connection.execute(delete(deployments).where(deployments.c.uri == uri))
