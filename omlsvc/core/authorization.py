"""The one place that answers "may this principal ...?".

Every service asks here; no service writes an ownership or visibility rule of its own, because a
rule written twice drifts, and a security rule that drifts is a hole. The rules take plain values
(who owns a thing, whom it is shared with), never rows or requests, so they hold the same for the
HTTP API, the CLI and the job runner. Where a store must filter in SQL (listing what a principal may
see), it mirrors :func:`may_see_model` term by term, asks :func:`sees_every_model` for the admin
term, and a test ties the two together (``tests/integration/test_model_visibility.py``).

Every rule fails closed: called without a :class:`Principal` (a request that reached a service
without authentication), it raises :class:`~omlsvc.core.errors.Unauthorized` before deciding anything,
so a missing principal is a 401, never a 500 and never a grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from omlsvc.core.errors import Unauthorized

ADMIN = "admin"
DEVELOPER = "developer"
ROLES = (DEVELOPER, ADMIN)

#: A model's creator, in the ``users`` list of its details.
OWN = "OWN"
#: A named user may list, read and download the model, score its deployment and use it in a job.
VIEW = "VIEW"
#: What the owner (or an admin) may grant to a named user.
GRANTABLE = (VIEW,)


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
    """What decides who may use a model: its owner, whether everyone may see it (``shared``), and
    the users it was granted to by name (``viewers``, each with :data:`VIEW`)."""

    owner: str
    shared: bool
    viewers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ModelUser:
    """One entry of a model's ``users`` list: a user name and :data:`OWN` or :data:`VIEW`."""

    username: str
    permission: str


def require_principal(principal: object) -> Principal:
    """The principal, or :class:`Unauthorized` when there is none: no rule is decided without one."""
    if not isinstance(principal, Principal):
        raise Unauthorized("The request needs an 'Authorization: Bearer <token>' header.")
    return principal


def sees_every_model(principal: Principal) -> bool:
    """Whether visibility needs no filter at all for this principal (admins)."""
    return require_principal(principal).is_admin


def may_see_model(principal: Principal, model: ModelAccess) -> bool:
    """List, read, download its metadata and content, score its deployment, use it in a job.

    The SQL mirror is ``omlsvc.repository.store.visible_to``: owner, shared, granted by name, admin.
    """
    principal = require_principal(principal)
    return (
        sees_every_model(principal)
        or model.owner == principal.name
        or model.shared
        or principal.name in model.viewers
    )


def may_manage_model(principal: Principal, model: ModelAccess) -> bool:
    """Change, delete, share, grant, deploy and undeploy: the owner and admins only.

    A user who may see the model but not manage it is told 403; one who may not see it, 404.
    """
    principal = require_principal(principal)
    return model.owner == principal.name or principal.is_admin


def may_serve_instead(principal: Principal, deployed: ModelAccess, replacement: ModelAccess) -> bool:
    """Put ``replacement`` behind the URI that serves ``deployed`` (a swap, a rollback, a canary, a
    promotion): whoever manages both models, i.e. the owner of both or an admin. Merely seeing the new
    model is not enough, as a deploy needs its owner too: no one puts another user's model (shared
    with them or not) behind their URI. Callers check :func:`may_see_model` on each first (404)."""
    return may_manage_model(principal, deployed) and may_manage_model(principal, replacement)


def model_users_visible_to(principal: Principal, model: ModelAccess) -> tuple[ModelUser, ...]:
    """The ``users`` of a model as this principal may read them: owner first, then viewers by name.

    Those who manage the model see every viewer. Anyone else sees the owner (already public as
    ``createdBy``) and, when they hold a grant, themselves: a viewer never learns whom else the
    model is granted to. Callers check :func:`may_see_model` first.
    """
    principal = require_principal(principal)
    if may_manage_model(principal, model):
        viewers = sorted(model.viewers)
    else:
        viewers = [principal.name] if principal.name in model.viewers else []
    return (ModelUser(model.owner, OWN), *(ModelUser(name, VIEW) for name in viewers))


def may_manage_job(principal: Principal, job_owner: str) -> bool:
    """See, change, run and delete a job: its owner and admins; others do not learn it exists."""
    principal = require_principal(principal)
    return job_owner == principal.name or principal.is_admin


def job_owner_scope(principal: Principal) -> str | None:
    """Whose jobs a listing shows: the principal's own (their name), or everyone's (``None``, admins).

    The SQL mirror of :func:`may_manage_job` for listings.
    """
    principal = require_principal(principal)
    return None if principal.is_admin else principal.name


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


# -- tasks (issue 15) ---------------------------------------------------------------------------------
# A task (URL import, variant, profile) is its submitter's: others do not learn it exists. Who may
# submit one is a model rule above: imports and variants store a model as their submitter (any
# signed-in user may store; a variant needs :func:`may_manage_model` on its source), a profile runs
# a model on this host (:func:`may_manage_model` too); anyone who may see a model reads its profiles.


def may_see_task(principal: Principal, task_owner: str) -> bool:
    """See and cancel a task: whoever submitted it, and admins."""
    principal = require_principal(principal)
    return task_owner == principal.name or principal.is_admin


# -- user accounts over HTTP (issue 19) ---------------------------------------------------------------
# The CLI (``omlsvc users``) runs on the server with the database's credentials and asks nobody; the
# HTTP API asks here. For anyone but an admin the users resources do not exist (404, before any input
# is read or any user looked up), as another user's job or private model does not: a developer learns
# neither that the API answers them nor which user names exist.


def may_administer_users(principal: Principal) -> bool:
    """List, add, disable and enable users, reset their passwords and change their roles: admins."""
    return require_principal(principal).is_admin
