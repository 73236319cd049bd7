"""The SQL listing condition is :func:`omlsvc.core.authorization.may_see_model`, on SQLite and PostgreSQL.

``visible_to`` (``omlsvc/repository/store.py``) filters model and deployment lists in SQL; the rule
decides everything else. Over a matrix of owners, shared flags and named viewers, listing through
the stores returns exactly the models the rule lets each principal see (developers, a user unknown
to the database, an admin), and every record carries the viewers it was granted to. Called without
a principal, the stores refuse before building any SQL.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from omlsvc.auth.store import UserStore
from omlsvc.core.authorization import VIEW, Principal, may_see_model
from omlsvc.core.errors import Unauthorized
from omlsvc.db.engine import make_engine
from omlsvc.db.setup import init_schema
from omlsvc.db.uow import UnitOfWork
from omlsvc.deployment.store import DeploymentStore
from omlsvc.repository.rows import GrantRecord, ModelFilter, ModelRecord
from omlsvc.repository.store import GrantStore, ModelStore
from tests.conftest import empty_postgres

USERS = ("alice", "bob", "carol")
PRINCIPALS = (
    Principal("alice", ("developer",)),
    Principal("bob", ("developer",)),
    Principal("carol", ("developer",)),
    Principal("dave", ("developer",)),  # holds a token but owns nothing and was granted nothing
    Principal("root", ("developer", "admin")),
    Principal("carol", ("developer", "admin")),  # an admin who is also a grantee
)
NOW = datetime(2026, 1, 1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'omlsvc.db'}")
        init_schema(made)
        yield made
        made.dispose()
    else:
        shared: Engine = request.getfixturevalue("postgres_engine")
        empty_postgres(shared)
        yield shared
        empty_postgres(shared)


def model(number: int, owner: str, shared: bool) -> ModelRecord:
    return ModelRecord(
        id=f"00000000-0000-0000-0000-{number:012d}",
        name=f"m{number}",
        version="1",
        model_type="ONNX",
        namespace=None,
        description=None,
        shared=shared,
        owner=owner,
        created_at=NOW,
        sha256="0" * 64,
        size_bytes=1,
        chunk_count=1,
        function="REGRESSION",
        spec_json="{}",
        metadata_json="{}",
    )


@pytest.fixture
def granted(engine: Engine) -> dict[str, frozenset[str]]:
    """Every combination of owner, shared flag and named viewers, each deployed: model id -> viewers."""
    viewers_by_model: dict[str, frozenset[str]] = {}
    with UnitOfWork(engine, write=True) as uow:
        users = UserStore(uow.connection)
        for name in (*USERS, "root"):
            users.add(name, "x", ("developer",), NOW)
        models, grants, deployments = (
            ModelStore(uow.connection),
            GrantStore(uow.connection),
            DeploymentStore(uow.connection),
        )
        number = itertools.count()
        for owner, shared in itertools.product(("alice", "bob"), (False, True)):
            others = [u for u in USERS if u != owner]
            for size in range(len(others) + 1):
                for viewers in itertools.combinations(others, size):
                    record = model(next(number), owner, shared)
                    models.add(record, io.BytesIO(b"x"), 1024)
                    for viewer in viewers:
                        assert grants.add(GrantRecord(record.id, viewer, VIEW, owner, NOW))
                    deployments.add(f"uri_{record.name}", record.id, owner, NOW)
                    viewers_by_model[record.id] = frozenset(viewers)
        uow.commit()
    return viewers_by_model


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: f"{p.name}{'_admin' if p.is_admin else ''}")
def test_listing_returns_exactly_the_models_the_rule_lets_the_principal_see(
    engine: Engine, granted: dict[str, frozenset[str]], principal: Principal
) -> None:
    with UnitOfWork(engine) as uow:
        store = ModelStore(uow.connection)
        records = [store.get(model_id) for model_id in granted]
        listed = store.list_visible(principal, ModelFilter())
        deployed = DeploymentStore(uow.connection).list_visible(principal, ModelFilter())
    assert all(r is not None and r.viewers == granted[r.id] for r in records)
    allowed = {r.id for r in records if r is not None and may_see_model(principal, r.access)}
    assert {r.id for r in listed} == allowed
    assert {d.model.id for d in deployed} == allowed
    assert all(r.viewers == granted[r.id] for r in listed)
    assert all(d.model.viewers == granted[d.model.id] for d in deployed)
    if not principal.is_admin:  # the matrix separates: each developer sees some models and not others
        assert 0 < len(allowed) < len(granted)


def test_a_grant_is_what_makes_another_users_private_model_visible(
    engine: Engine, granted: dict[str, frozenset[str]]
) -> None:
    carol = Principal("carol", ("developer",))
    with UnitOfWork(engine) as uow:
        seen = ModelStore(uow.connection).list_visible(carol, ModelFilter())
    private = {r.id for r in seen if not r.shared}
    assert private == {
        model_id
        for model_id, viewers in granted.items()
        if "carol" in viewers and model_id not in shared(seen)
    }
    assert private


def shared(records: list[ModelRecord]) -> set[str]:
    return {r.id for r in records if r.shared}


@pytest.mark.parametrize("principal", [None, "alice"])
def test_the_stores_refuse_to_list_without_a_principal(engine: Engine, principal: object) -> None:
    with UnitOfWork(engine) as uow:
        with pytest.raises(Unauthorized):
            ModelStore(uow.connection).list_visible(principal, ModelFilter())  # type: ignore[arg-type]
        with pytest.raises(Unauthorized):
            DeploymentStore(uow.connection).list_visible(principal, ModelFilter())  # type: ignore[arg-type]
