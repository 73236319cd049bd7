"""Model rows, their BLOB chunks, and the users they are granted to.

A model's zip is stored as chunks of a few MiB (``model_chunks``), so uploads and downloads stream
with bounded memory on every database. The row and all its chunks are written in the caller's
transaction: they become visible together or not at all. A record is read with its viewers (the
``model_grants`` rows), so the rules of :mod:`omlsvc.core.authorization` decide on the whole truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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

from omlsvc.core.authorization import VIEW, ModelAccess, Principal, sees_every_model
from omlsvc.core.errors import Conflict
from omlsvc.db.schema import deployments, model_chunks, model_grants, models, users


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
    #: Users granted :data:`~omlsvc.core.authorization.VIEW` by name (``model_grants``).
    viewers: frozenset[str] = frozenset()

    @property
    def access(self) -> ModelAccess:
        return ModelAccess(owner=self.owner, shared=self.shared, viewers=self.viewers)


@dataclass(frozen=True)
class GrantRecord:
    """One model granted to one named user."""

    model_id: str
    username: str
    permission: str
    granted_by: str
    granted_at: datetime


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

_VIEWERS_OF = select(model_grants.c.username).where(
    model_grants.c.model_id == bindparam("model_id"), model_grants.c.permission == VIEW
)
#: Model ids per query when reading the viewers of a page (Oracle allows 1000 in an IN list).
_IDS_PER_QUERY = 500

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


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition for models a principal may see: :func:`omlsvc.core.authorization.may_see_model`
    in SQL, term by term (admin, owner, shared, granted by name); a test ties the two together."""
    if sees_every_model(principal):
        return true()
    granted = exists().where(
        model_grants.c.model_id == models.c.id,
        model_grants.c.username == principal.name,
        model_grants.c.permission == VIEW,
    )
    return or_(models.c.owner == principal.name, models.c.shared == true(), granted)


def viewers_of(connection: Connection, model_id: str) -> frozenset[str]:
    """The users a model is granted to by name."""
    return frozenset(connection.execute(_VIEWERS_OF, {"model_id": model_id}).scalars())


def with_viewers(connection: Connection, records: Sequence[ModelRecord]) -> list[ModelRecord]:
    """The records with their viewers, read in one query per few hundred models (not one per model)."""
    if not records:
        return []
    found: dict[str, set[str]] = {}
    ids = sorted({r.id for r in records})
    for start in range(0, len(ids), _IDS_PER_QUERY):
        query = select(model_grants.c.model_id, model_grants.c.username).where(
            model_grants.c.model_id.in_(ids[start : start + _IDS_PER_QUERY]),
            model_grants.c.permission == VIEW,
        )
        for model_id, username in connection.execute(query):
            found.setdefault(model_id, set()).add(username)
    return [replace(r, viewers=frozenset(found[r.id])) if r.id in found else r for r in records]


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
        """The model with its viewers, or None."""
        row = self._connection.execute(select(*_COLUMNS).where(models.c.id == model_id)).one_or_none()
        if row is None:
            return None
        return replace(_record(row), viewers=viewers_of(self._connection, model_id))

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
        """Delete a model and its chunks; Conflict while a deployment still refers to it."""
        try:
            with self._connection.begin_nested():
                self._connection.execute(delete(model_grants).where(model_grants.c.model_id == model_id))
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


def filter_models(query: Select[Any], where: ModelFilter) -> Select[Any]:
    """Apply the OML list filters (exact matches; namespace is case-sensitive) to a query over models."""
    if where.name is not None:
        query = query.where(models.c.name == where.name)
    if where.version is not None:
        query = query.where(models.c.version == where.version)
    if where.namespace is not None:
        query = query.where(models.c.namespace == where.namespace)
    return query
