"""Model rows, their BLOB chunks, and the users they are granted to.

A model's zip is stored as chunks of a few MiB (``model_chunks``), so uploads and downloads stream
with bounded memory on every database. The row and all its chunks are written in the caller's
transaction: they become visible together or not at all. A record is read with its viewers (the
``model_grants`` rows), so the rules of :mod:`omlsvc.core.authorization` decide on the whole truth.
"""

from __future__ import annotations

from typing import BinaryIO

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import Conflict
from omlsvc.db.schema import deployments, model_chunks, model_grants, models, users
from omlsvc.repository.rows import (
    GrantRecord,
    ModelFilter,
    ModelRecord,
    filter_models,
    model_columns,
    model_record,
    read_model,
    visible_to,
    with_viewers,
)

_READ_CHUNK = select(model_chunks.c.data).where(
    model_chunks.c.model_id == bindparam("model_id"), model_chunks.c.seq == bindparam("seq")
)
_COLUMNS = model_columns()
_record = model_record


class ModelStore:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, record: ModelRecord, content: BinaryIO, chunk_bytes: int) -> None:
        """Insert the row and the content read from ``content``; Conflict on (owner, name, version)."""
        try:
            self._connection.execute(
                insert(models).values(
                    id=record.id,
                    name=record.name,
                    version=record.version,
                    model_type=record.model_type,
                    namespace=record.namespace,
                    description=record.description,
                    shared=record.shared,
                    owner=record.owner,
                    created_at=record.created_at,
                    sha256=record.sha256,
                    size_bytes=record.size_bytes,
                    chunk_count=record.chunk_count,
                    mining_function=record.function,
                    spec=record.spec_json,
                    model_metadata=record.metadata_json,
                    derived_from=record.derived_from,
                )
            )
        except IntegrityError:
            raise Conflict(
                f"Model already exists: {record.owner} already stored {record.name} version {record.version}."
            ) from None
        seq = 0
        statement = insert(model_chunks)
        while data := content.read(chunk_bytes):
            self._connection.execute(statement, {"model_id": record.id, "seq": seq, "data": data})
            seq += 1
        if seq != record.chunk_count:
            raise RuntimeError(f"wrote {seq} chunks, expected {record.chunk_count}")

    def exists(self, owner: str, name: str, version: str) -> bool:
        query = select(
            exists().where(models.c.owner == owner, models.c.name == name, models.c.version == version)
        )
        return bool(self._connection.execute(query).scalar())

    def get(self, model_id: str) -> ModelRecord | None:
        """The model with its viewers, or None."""
        return read_model(self._connection, model_id)

    def list_visible(
        self, principal: Principal, where: ModelFilter, offset: int = 0, limit: int | None = None
    ) -> list[ModelRecord]:
        """The models ``principal`` may see (:func:`visible_to`), with their viewers, oldest first."""
        query = filter_models(select(*_COLUMNS), where).where(visible_to(principal))
        query = query.order_by(models.c.created_at, models.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return with_viewers(self._connection, [_record(row) for row in self._connection.execute(query)])

    def update(self, model_id: str, **values: object) -> None:
        self._connection.execute(update(models).where(models.c.id == model_id).values(**values))

    def delete(self, model_id: str) -> None:
        """Delete a model and its chunks; Conflict while a deployment still serves it (as its main
        model or its canary: checked here too, as a schema upgraded in place has no foreign key on
        the canary)."""
        if self.is_deployed(model_id):
            raise Conflict("The model is deployed; undeploy it before deleting it.")
        try:
            with self._connection.begin_nested():
                self._connection.execute(delete(model_grants).where(model_grants.c.model_id == model_id))
                self._connection.execute(delete(model_chunks).where(model_chunks.c.model_id == model_id))
                self._connection.execute(delete(models).where(models.c.id == model_id))
        except IntegrityError:
            raise Conflict("The model is deployed; undeploy it before deleting it.") from None

    def is_deployed(self, model_id: str) -> bool:
        return bool(
            self._connection.execute(
                select(
                    exists().where(
                        or_(deployments.c.model_id == model_id, deployments.c.canary_model_id == model_id)
                    )
                )
            ).scalar()
        )

    def read_chunk(self, model_id: str, seq: int) -> bytes | None:
        data = self._connection.execute(_READ_CHUNK, {"model_id": model_id, "seq": seq}).scalar()
        return None if data is None else bytes(data)

    def count(self) -> int:
        return int(self._connection.execute(select(func.count()).select_from(models)).scalar() or 0)

    def chunk_count(self, model_id: str | None = None) -> int:
        query = select(func.count()).select_from(model_chunks)
        if model_id is not None:
            query = query.where(model_chunks.c.model_id == model_id)
        return int(self._connection.execute(query).scalar() or 0)


class GrantStore:
    """The ``model_grants`` rows: who was granted which model, by whom, when."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def user_exists(self, name: str) -> bool:
        return bool(self._connection.execute(select(exists().where(users.c.name == name))).scalar())

    def get(self, model_id: str, username: str) -> GrantRecord | None:
        row = self._connection.execute(
            select(*_GRANT_COLUMNS).where(
                model_grants.c.model_id == model_id, model_grants.c.username == username
            )
        ).one_or_none()
        return None if row is None else GrantRecord(*row)

    def list(self, model_id: str) -> list[GrantRecord]:
        """The model's grants, by user name."""
        query = (
            select(*_GRANT_COLUMNS)
            .where(model_grants.c.model_id == model_id)
            .order_by(model_grants.c.username)
        )
        return [GrantRecord(*row) for row in self._connection.execute(query)]

    def add(self, grant: GrantRecord) -> bool:
        """Insert the grant; False (and nothing changed) when the user already holds one."""
        try:
            with self._connection.begin_nested():
                self._connection.execute(
                    insert(model_grants).values(
                        model_id=grant.model_id,
                        username=grant.username,
                        permission=grant.permission,
                        granted_by=grant.granted_by,
                        granted_at=grant.granted_at,
                    )
                )
        except IntegrityError:
            if self.get(grant.model_id, grant.username) is not None:
                return False  # granted meanwhile by a concurrent request: the same outcome
            raise Conflict(f"The model or the user {grant.username} was removed meanwhile.") from None
        return True

    def delete(self, model_id: str, username: str) -> bool:
        """Remove the grant; False when there was none."""
        result = self._connection.execute(
            delete(model_grants).where(
                model_grants.c.model_id == model_id, model_grants.c.username == username
            )
        )
        return bool(result.rowcount)


_GRANT_COLUMNS = (
    model_grants.c.model_id,
    model_grants.c.username,
    model_grants.c.permission,
    model_grants.c.granted_by,
    model_grants.c.granted_at,
)
