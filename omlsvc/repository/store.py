"""Model rows and their BLOB chunks.

A model's zip is stored as chunks of a few MiB (``model_chunks``), so uploads and downloads stream
with bounded memory on every database. The row and all its chunks are written in the caller's
transaction: they become visible together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError

from omlsvc.authorization import ModelAccess
from omlsvc.db.schema import deployments, model_chunks, models
from omlsvc.errors import Conflict


@dataclass(frozen=True)
class ModelRecord:
    """One stored model, without its content."""

    id: str
    name: str
    version: str
    model_type: str
    namespace: str | None
    description: str | None
    shared: bool
    owner: str
    created_at: datetime
    sha256: str
    size_bytes: int
    chunk_count: int
    function: str
    spec_json: str
    metadata_json: str

    @property
    def access(self) -> ModelAccess:
        return ModelAccess(owner=self.owner, shared=self.shared)


@dataclass(frozen=True)
class ModelFilter:
    name: str | None = None
    version: str | None = None
    namespace: str | None = None


_COLUMNS = (
    models.c.id,
    models.c.name,
    models.c.version,
    models.c.model_type,
    models.c.namespace,
    models.c.description,
    models.c.shared,
    models.c.owner,
    models.c.created_at,
    models.c.sha256,
    models.c.size_bytes,
    models.c.chunk_count,
    models.c.mining_function,
    models.c.spec,
    models.c.model_metadata,
)

_READ_CHUNK = select(model_chunks.c.data).where(
    model_chunks.c.model_id == bindparam("model_id"), model_chunks.c.seq == bindparam("seq")
)


def model_columns() -> tuple[ColumnElement[Any], ...]:
    """The columns of a :class:`ModelRecord`, in field order (for joins in other stores)."""
    return _COLUMNS


def model_record(row: Sequence[object]) -> ModelRecord:
    """A record from a row (or the tail of a joined row) selected with :func:`model_columns`."""
    return ModelRecord(*row)  # type: ignore[arg-type]


_record = model_record


def visible_to(owner: str, is_admin: bool) -> ColumnElement[bool]:
    """The SQL condition for models a user may see: :func:`omlsvc.authorization.may_see_model` in SQL."""
    if is_admin:
        return true()
    return or_(models.c.owner == owner, models.c.shared == true())


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
        row = self._connection.execute(select(*_COLUMNS).where(models.c.id == model_id)).one_or_none()
        return None if row is None else _record(row)

    def list_visible(
        self, owner: str, is_admin: bool, where: ModelFilter, offset: int = 0, limit: int | None = None
    ) -> list[ModelRecord]:
        query = filter_models(select(*_COLUMNS), where).where(visible_to(owner, is_admin))
        query = query.order_by(models.c.created_at, models.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_record(row) for row in self._connection.execute(query)]

    def update(self, model_id: str, **values: object) -> None:
        self._connection.execute(update(models).where(models.c.id == model_id).values(**values))

    def delete(self, model_id: str) -> None:
        """Delete a model and its chunks; Conflict while a deployment still refers to it."""
        try:
            with self._connection.begin_nested():
                self._connection.execute(delete(model_chunks).where(model_chunks.c.model_id == model_id))
                self._connection.execute(delete(models).where(models.c.id == model_id))
        except IntegrityError:
            raise Conflict("The model is deployed; undeploy it before deleting it.") from None

    def is_deployed(self, model_id: str) -> bool:
        return bool(
            self._connection.execute(select(exists().where(deployments.c.model_id == model_id))).scalar()
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


def filter_models(query: Select[Any], where: ModelFilter) -> Select[Any]:
    """Apply the OML list filters (exact matches; namespace is case-sensitive) to a query over models."""
    if where.name is not None:
        query = query.where(models.c.name == where.name)
    if where.version is not None:
        query = query.where(models.c.version == where.version)
    if where.namespace is not None:
        query = query.where(models.c.namespace == where.namespace)
    return query
