"""Model rows as every store reads them: the record types and the SQL pieces that select them.

The repository's own store writes models; other capabilities' stores (a deployment joins its model)
read model rows through these pieces and never through :class:`omlsvc.repository.store.ModelStore`,
so no capability reaches into another's store, while the visibility rule still has one SQL form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, exists, or_, select, true

from omlsvc.core.authorization import VIEW, ModelAccess, Principal, sees_every_model
from omlsvc.core.patterns import MODEL_ID
from omlsvc.db.schema import model_grants, models


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
    #: JSON ``{"modelId", "kind"}``: the model a variant task derived this one from (issue 15).
    derived_from: str | None = None
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
    models.c.derived_from,
)

_VIEWERS_OF = select(model_grants.c.username).where(
    model_grants.c.model_id == bindparam("model_id"), model_grants.c.permission == VIEW
)
#: Model ids per query when reading the viewers of a page (Oracle allows 1000 in an IN list).
_IDS_PER_QUERY = 500


def model_columns() -> tuple[ColumnElement[Any], ...]:
    """The columns of a :class:`ModelRecord`, in field order (for joins in other stores)."""
    return _COLUMNS


def model_record(row: Sequence[object]) -> ModelRecord:
    """A record from a row (or the tail of a joined row) selected with :func:`model_columns`."""
    return ModelRecord(*row)  # type: ignore[arg-type]


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


def read_model(connection: Connection, model_id: str) -> ModelRecord | None:
    """The model with its viewers, or None (in the caller's transaction). An id that cannot be a
    model's is None without a query: no driver sees a client's NUL byte or a megabyte of text."""
    if not MODEL_ID.fullmatch(model_id):
        return None
    row = connection.execute(select(*_COLUMNS).where(models.c.id == model_id)).one_or_none()
    if row is None:
        return None
    return replace(model_record(row), viewers=viewers_of(connection, model_id))


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


def filter_models(query: Select[Any], where: ModelFilter) -> Select[Any]:
    """Apply the OML list filters (exact matches; namespace is case-sensitive) to a query over models."""
    if where.name is not None:
        query = query.where(models.c.name == where.name)
    if where.version is not None:
        query = query.where(models.c.version == where.version)
    if where.namespace is not None:
        query = query.where(models.c.namespace == where.namespace)
    return query
