"""Deployments: a URI bound to one model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from omlsvc.db.schema import deployments, models
from omlsvc.errors import Conflict
from omlsvc.repository.store import (
    ModelFilter,
    ModelRecord,
    filter_models,
    model_columns,
    model_record,
    visible_to,
)


@dataclass(frozen=True)
class DeploymentRecord:
    uri: str
    created_at: datetime
    model: ModelRecord
    #: the deployment's own time limit for a model run; None: the service's default.
    score_timeout_s: float | None = None


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
        row = self._connection.execute(_BY_URI, {"uri": uri}).one_or_none()
        return None if row is None else _record(row)

    def uri_taken(self, uri: str) -> bool:
        return bool(self._connection.execute(select(exists().where(deployments.c.uri == uri))).scalar())

    def uri_of_model(self, model_id: str) -> str | None:
        return self._connection.execute(
            select(deployments.c.uri).where(deployments.c.model_id == model_id)
        ).scalar_one_or_none()

    def list_visible(
        self, owner: str, is_admin: bool, where: ModelFilter, offset: int = 0, limit: int | None = None
    ) -> list[DeploymentRecord]:
        query = filter_models(_JOINED, where).where(visible_to(owner, is_admin))
        query = query.order_by(deployments.c.created_at, deployments.c.uri).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_record(row) for row in self._connection.execute(query)]

    def delete(self, uri: str) -> None:
        self._connection.execute(delete(deployments).where(deployments.c.uri == uri))
