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


# -- tables a batch scoring job may read ------------------------------------------------------------
# (Kept apart from the model rules above.) A job reads as its owner's database identity. On
# PostgreSQL and Oracle the database itself decides, with its own privileges checked as that identity
# (``SET LOCAL ROLE``, a proxy session); on SQLite, which has no roles, an administrator grants tables
# (``omlsvc tables grant``). omlsvc's own tables are never job input (nor output) on any database.


@dataclass(frozen=True)
class TableAccess:
    """What decides whether a job may read one table or view.

    ``database_decides``: the database checked its own privileges as the job's identity and
    ``granted`` is its answer; otherwise ``granted`` says whether an administrator granted the table
    to the principal. ``job_output_of``: the owner of the job whose output table this is, if it is one.
    """

    service_table: bool
    database_decides: bool
    granted: bool
    job_output_of: str | None = None


def may_read_table(principal: Principal, table: TableAccess) -> bool:
    """Read a table or view as a job's input. A table this denies answers exactly like one that does
    not exist, so a job learns nothing of tables its owner may not read."""
    if table.service_table:
        return False
    if table.database_decides:
        return table.granted
    return principal.is_admin or table.granted or table.job_output_of == principal.name
