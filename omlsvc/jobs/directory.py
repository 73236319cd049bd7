"""What jobs ask of the other capabilities, through their services and never their stores: who a
job's owner is (for omlsvc's rules and as a database identity), and the record of a stored model.

Both questions are asked without a caller's principal: the runner acts for a job's owner with no
request in sight. The answers are facts, not decisions: whether the owner may still use the model
is decided here, in jobs, by :mod:`omlsvc.core.authorization`.
"""

from __future__ import annotations

from typing import Protocol

from omlsvc.core.authorization import Principal
from omlsvc.repository.rows import ModelRecord


class JobOwners(Protocol):
    """The users jobs run for (:class:`omlsvc.auth.service.AuthService`)."""

    def principal_of(self, name: str) -> Principal | None:
        """The enabled user ``name``, or None (no such user, or disabled)."""
        ...

    def db_role_of(self, name: str) -> str | None:
        """The database identity set for user ``name`` (None: the default, or no such user)."""
        ...


class KnownUsers(Protocol):
    """Whether a user exists, enabled or not (:class:`omlsvc.auth.service.AuthService`)."""

    def find_user(self, name: str) -> object | None:
        """The user ``name`` (None: no such user)."""
        ...


class ModelRecords(Protocol):
    """The stored models jobs score with (:class:`omlsvc.repository.service.ModelService`)."""

    def record(self, model_id: str) -> ModelRecord | None:
        """The model's record whoever may see it (None: no such model); the caller decides."""
        ...
