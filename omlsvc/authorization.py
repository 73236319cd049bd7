"""The one place that answers "may this principal ...?".

Every service asks here; no service writes an ownership or visibility rule of its own, because a
rule written twice drifts, and a security rule that drifts is a hole. The rules take plain values
(who owns a thing, whom it is shared with), never rows or requests, so they hold the same for the
HTTP API, the CLI and the job runner. Where a store must filter in SQL (listing what a principal may
see), it mirrors :func:`may_see_model` and a test ties the two together.
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
DEVELOPER = "developer"
ROLES = (DEVELOPER, ADMIN)


@dataclass(frozen=True)
class Principal:
    """Who is calling: what every use case behind authentication receives."""

    name: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


@dataclass(frozen=True)
class ModelAccess:
    """What decides who may use a model: its owner, whether everyone may see it, and named viewers."""

    owner: str
    shared: bool
    viewers: frozenset[str] = frozenset()


def may_see_model(principal: Principal, model: ModelAccess) -> bool:
    """List, read, download its metadata and content, and score its deployment."""
    return (
        model.shared or model.owner == principal.name or principal.is_admin or principal.name in model.viewers
    )


def may_manage_model(principal: Principal, model: ModelAccess) -> bool:
    """Change, delete, share, deploy and undeploy: the owner and admins only."""
    return model.owner == principal.name or principal.is_admin


def may_manage_job(principal: Principal, job_owner: str) -> bool:
    """See, change, run and delete a job: its owner and admins; others do not learn it exists."""
    return job_owner == principal.name or principal.is_admin
