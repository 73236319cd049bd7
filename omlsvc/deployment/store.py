"""Deployments: a URI bound to a main model (and perhaps a canary), and the history of what it served."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import Conflict
from omlsvc.db.schema import deployment_history, deployments, models
from omlsvc.deployment.records import DeploymentRecord, HistoryEntry
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
    deployments.c.uri,
    deployments.c.created_at,
    deployments.c.score_timeout_s,
    deployments.c.canary_model_id,
    deployments.c.canary_percent,
    deployments.c.output_tensor,
    *model_columns(),
).join_from(deployments, models, deployments.c.model_id == models.c.id)
#: Built once: this lookup runs on every score request (or rather, on every miss of a worker's cache).
_BY_URI = _JOINED.where(deployments.c.uri == bindparam("uri"))

_HISTORY = (
    deployment_history.c.seq,
    deployment_history.c.action,
    deployment_history.c.model_id,
    deployment_history.c.previous_model_id,
    deployment_history.c.canary_model_id,
    deployment_history.c.canary_percent,
    deployment_history.c.switched_at,
    deployment_history.c.switched_by,
)


def _record(row: Sequence[Any]) -> tuple[DeploymentRecord, str | None, int | None]:
    """The record without its canary, the canary's id and its percent."""
    record = DeploymentRecord(
        uri=row[0],
        created_at=row[1],
        score_timeout_s=row[2],
        model=model_record(row[6:]),
        output_tensor=row[5],
    )
    return record, row[3], row[4]


class DeploymentStore:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(
        self,
        uri: str,
        model_id: str,
        owner: str,
        created_at: datetime,
        score_timeout_s: float | None = None,
        output_tensor: str | None = None,
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
                        output_tensor=output_tensor,
                    )
                )
        except IntegrityError:
            raise Conflict(f"The URI {uri!r} is already in use, or the model is already deployed.") from None

    def get(self, uri: str) -> DeploymentRecord | None:
        """The deployment with its models and their viewers (the score path caches it)."""
        row = self._connection.execute(_BY_URI, {"uri": uri}).one_or_none()
        if row is None:
            return None
        record, canary_id, percent = _record(row)
        model = replace(record.model, viewers=viewers_of(self._connection, record.model.id))
        canary = None if canary_id is None else read_model(self._connection, canary_id)
        if canary is not None:
            canary = replace(canary, viewers=viewers_of(self._connection, canary.id))
        return replace(
            record,
            model=model,
            canary=canary,
            canary_percent=None if canary is None else percent,
        )

    def model(self, model_id: str) -> ModelRecord | None:
        """The model a deployment would serve, read in the deploying transaction (so the checks on
        it and the deployment's row see the same model)."""
        return read_model(self._connection, model_id)

    def uri_taken(self, uri: str) -> bool:
        return bool(self._connection.execute(select(exists().where(deployments.c.uri == uri))).scalar())

    def uri_of_model(self, model_id: str) -> str | None:
        """The URI that serves the model, as its main model or its canary."""
        return self._connection.execute(
            select(deployments.c.uri)
            .where(or_(deployments.c.model_id == model_id, deployments.c.canary_model_id == model_id))
            .limit(1)
        ).scalar_one_or_none()

    def switch(
        self,
        uri: str,
        expected_model_id: str,
        model_id: str,
        canary_model_id: str | None,
        canary_percent: int | None,
    ) -> bool:
        """Point the deployment at new models, if it still serves ``expected_model_id`` (False when a
        concurrent change came first). The update takes the row's lock until the commit."""
        try:
            with self._connection.begin_nested():
                result = self._connection.execute(
                    update(deployments)
                    .where(deployments.c.uri == uri, deployments.c.model_id == expected_model_id)
                    .values(model_id=model_id, canary_model_id=canary_model_id, canary_percent=canary_percent)
                )
        except IntegrityError:
            raise Conflict(f"Model {model_id} is deployed elsewhere or no longer exists.") from None
        return bool(result.rowcount)

    def record_history(self, uri: str, entry: HistoryEntry) -> None:
        """Append ``entry`` (its ``seq`` is ignored: the next one of the URI is used). Call after
        :meth:`switch` (or :meth:`add`), whose row lock keeps two writers from taking the same seq."""
        last = self._connection.execute(
            select(func.max(deployment_history.c.seq)).where(deployment_history.c.uri == uri)
        ).scalar()
        self._connection.execute(
            insert(deployment_history).values(
                uri=uri,
                seq=(last or 0) + 1,
                action=entry.action,
                model_id=entry.model_id,
                previous_model_id=entry.previous_model_id,
                canary_model_id=entry.canary_model_id,
                canary_percent=entry.canary_percent,
                switched_at=entry.switched_at,
                switched_by=entry.switched_by,
            )
        )

    def history(
        self, uri: str, offset: int = 0, limit: int | None = None, *, actions: Sequence[str] = ()
    ) -> list[HistoryEntry]:
        """The deployment's changes (only those of ``actions`` when given), newest first."""
        query = select(*_HISTORY).where(deployment_history.c.uri == uri)
        if actions:
            query = query.where(deployment_history.c.action.in_(actions))
        query = query.order_by(deployment_history.c.seq.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [HistoryEntry(*row) for row in self._connection.execute(query)]

    def list_visible(
        self, principal: Principal, where: ModelFilter, offset: int = 0, limit: int | None = None
    ) -> list[DeploymentRecord]:
        """Deployments of the models ``principal`` may see (the same SQL condition as models); their
        canaries are not read (listings do not show them)."""
        query = filter_models(_JOINED, where).where(visible_to(principal))
        query = query.order_by(deployments.c.created_at, deployments.c.uri).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        records = [_record(row)[0] for row in self._connection.execute(query)]
        models_with_viewers = with_viewers(self._connection, [r.model for r in records])
        return [replace(r, model=m) for r, m in zip(records, models_with_viewers, strict=True)]

    def delete(self, uri: str) -> None:
        self._connection.execute(delete(deployment_history).where(deployment_history.c.uri == uri))
        self._connection.execute(delete(deployments).where(deployments.c.uri == uri))
