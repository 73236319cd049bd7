"""The one authorization module: the rules for models and jobs, and that none decides without a principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from omlsvc.core.authorization import (
    OWN,
    VIEW,
    ModelAccess,
    ModelUser,
    Principal,
    job_owner_scope,
    may_manage_job,
    may_manage_model,
    may_see_model,
    model_users_visible_to,
    sees_every_model,
)
from omlsvc.core.errors import Unauthorized

ALICE = Principal("alice", ("developer",))
BOB = Principal("bob", ("developer",))
CAROL = Principal("carol", ("developer",))
ROOT = Principal("root", ("developer", "admin"))
PRIVATE = ModelAccess(owner="alice", shared=False)
SHARED = ModelAccess(owner="alice", shared=True)
GRANTED = ModelAccess(owner="alice", shared=False, viewers=frozenset({"bob", "dave"}))


@pytest.mark.parametrize(
    ("principal", "model", "sees", "manages"),
    [
        (ALICE, PRIVATE, True, True),
        (BOB, PRIVATE, False, False),
        (BOB, SHARED, True, False),
        (BOB, GRANTED, True, False),
        (CAROL, GRANTED, False, False),
        (ROOT, PRIVATE, True, True),
        (ROOT, GRANTED, True, True),
    ],
)
def test_owners_and_admins_manage_viewers_and_everyone_on_shared_models_only_see(
    principal: Principal, model: ModelAccess, sees: bool, manages: bool
) -> None:
    assert may_see_model(principal, model) is sees
    assert may_manage_model(principal, model) is manages


def test_a_viewer_reads_the_owner_and_themself_among_the_users_never_the_other_viewers() -> None:
    owner = ModelUser("alice", OWN)
    assert model_users_visible_to(ALICE, GRANTED) == (owner, ModelUser("bob", VIEW), ModelUser("dave", VIEW))
    assert model_users_visible_to(ROOT, GRANTED) == model_users_visible_to(ALICE, GRANTED)
    assert model_users_visible_to(BOB, GRANTED) == (owner, ModelUser("bob", VIEW))
    assert model_users_visible_to(CAROL, ModelAccess("alice", True, frozenset({"bob"}))) == (owner,)


def test_jobs_are_their_owners_and_admins_only() -> None:
    assert may_manage_job(ALICE, "alice")
    assert not may_manage_job(BOB, "alice")
    assert may_manage_job(ROOT, "alice")
    assert job_owner_scope(BOB) == "bob"
    assert job_owner_scope(ROOT) is None


RULES: dict[str, Callable[[Any], object]] = {
    "may_see_model": lambda p: may_see_model(p, SHARED),
    "may_manage_model": lambda p: may_manage_model(p, SHARED),
    "model_users_visible_to": lambda p: model_users_visible_to(p, SHARED),
    "may_manage_job": lambda p: may_manage_job(p, "alice"),
    "job_owner_scope": job_owner_scope,
    "sees_every_model": sees_every_model,
}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("principal", [None, "alice", {"name": "alice", "roles": ["admin"]}])
def test_no_rule_decides_without_a_principal(rule: str, principal: object) -> None:
    with pytest.raises(Unauthorized):
        RULES[rule](principal)
