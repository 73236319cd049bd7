"""A job reaches user tables as its owner's database identity, never as omlsvc.

As in Oracle Machine Learning Services, where a job runs in the user's own schema with that user's
grants, the database decides what a job may read and where it may write:

* **PostgreSQL**: every statement on user tables runs after ``SET LOCAL ROLE <the user's role>``
  (omlsvc's login is a member of each role, see ``sql/postgresql/grants.sql``); ``RESET ROLE`` switches
  back for omlsvc's own bookkeeping in the same transaction, so a range's rows and its checkpoint still
  commit together. Tables are found through the catalogue with the role's privileges
  (:mod:`omlsvc.jobs.catalog`), read only when reading runs no code but PostgreSQL's own, and output
  tables are created by the role (so it owns them) in a schema it may create tables in.
* **Oracle**: the same through a proxy session ``omlsvc[USER]`` (``sql/oracle/grants.sql``).
* **SQLite** (one file, no roles): administrators grant tables (``omlsvc tables grant``); developers read
  what they were granted and their own jobs' outputs, administrators everything.

On every database omlsvc's own tables are never read or written by a job, and a table the owner may
not read answers exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

from omlsvc.core.authorization import Principal, TableAccess, may_read_table
from omlsvc.core.errors import InvalidInput
from omlsvc.db.schema import metadata as service_metadata
from omlsvc.jobs import catalog, lifecycle
from omlsvc.jobs.directory import JobOwners
from omlsvc.jobs.grants import TableGrantStore
from omlsvc.jobs.tables import DataTables

#: owner of the job with this id, or None (used to let a job read its owner's other jobs' outputs).
JobOwnerOf = Callable[[str], "str | None"]


@dataclass(frozen=True)
class JobIdentity:
    """Who a job acts as: the owner (for omlsvc's rules) and their database identity."""

    principal: Principal
    db_role: str


def database_identity(user_name: str, db_role: str | None, backend: str) -> str:
    """The user's database identity: ``db_role`` if set, else their name as the database folds an
    unquoted one (lower case on PostgreSQL, upper case on Oracle)."""
    if db_role:
        return db_role
    if backend == "postgresql":
        return user_name.lower()
    if backend == "oracle":
        return user_name.upper()
    return user_name


def identity_of(owners: JobOwners, user_name: str, backend: str) -> JobIdentity:
    """The identity of ``user_name``'s jobs (a disabled or deleted user keeps no omlsvc role) on a
    ``backend`` database."""
    principal = owners.principal_of(user_name) or Principal(user_name, ())
    return JobIdentity(principal, database_identity(user_name, owners.db_role_of(user_name), backend))


def no_such_table(wanted: str, schema: str | None) -> InvalidInput:
    """The one answer for a table that does not exist and for one the job's owner may not read."""
    where = f" in schema {schema}" if schema else ""
    return InvalidInput(f"inputData: there is no table or view {wanted!r}{where}.")


def service_table_refused(name: str) -> InvalidInput:
    return InvalidInput(f"inputData: {name} is one of omlsvc's own tables and cannot be scored.")


class UserTables:
    """User tables as the job's identity sees them, over one connection (SQLite: grants)."""

    def __init__(self, connection: Connection, identity: JobIdentity, job_owner_of: JobOwnerOf) -> None:
        self.connection = connection
        self.identity = identity
        self.tables = DataTables(connection)
        self._job_owner_of = job_owner_of

    def find_input(self, schema_name: str | None, wanted: str) -> tuple[str | None, str]:
        """(schema, real name) of the input table or view; :func:`no_such_table` if it cannot be read."""
        schema = self.tables.find_schema(schema_name, "inputSchemaName")
        name = self.tables.find_table(schema, wanted)
        if name is None:
            raise no_such_table(wanted, schema_name)
        if self.tables.is_default_schema(schema) and self.tables.is_service_table(name):
            raise service_table_refused(name)
        if not self._readable(schema, name):
            raise no_such_table(wanted, schema_name)
        return schema, name

    def output_schema(self, schema_name: str | None) -> str | None:
        return self.tables.find_schema(schema_name, "outputSchemaName")

    def guard_input(self, table: Table) -> None:
        """Before each read: the table may still be read (a grant may have been revoked)."""
        if not self._readable(table.schema, table.name):
            raise no_such_table(table.name, table.schema)

    def guard_output(self, table: Table) -> None:
        """Before each write: nothing to check on SQLite (no user reaches the file but omlsvc)."""

    def _readable(self, schema: str | None, name: str) -> bool:
        default = self.tables.is_default_schema(schema)
        owner = None
        if name.upper().startswith("OML$") and lifecycle.JOB_ID.fullmatch(name.upper()[:40]):
            owner = self._job_owner_of(name.upper()[:40])
        principal = self.identity.principal
        access = TableAccess(
            service_table=default and self.tables.is_service_table(name),
            database_decides=False,
            granted=default and TableGrantStore(self.connection).is_granted(principal.name, name),
            job_output_of=owner if default else None,
        )
        return may_read_table(principal, access)


class PostgresTables(UserTables):
    """User tables as the job's role sees them: used only inside ``SET LOCAL ROLE``."""

    def find_input(self, schema_name: str | None, wanted: str) -> tuple[str | None, str]:
        schema = None
        if schema_name is not None:
            schema = _pick(catalog.usable_schemas(self.connection, schema_name), schema_name)
            if schema is None:
                raise InvalidInput(f"inputSchemaName: there is no schema {schema_name!r}.")
        candidates = catalog.relations_named(self.connection, schema, wanted)
        allowed = [c for c in candidates if may_read_table(self.identity.principal, self._access(c))]
        # the first schema (in search path order) holding a readable match; exact names first
        if allowed:
            first = [c for c in allowed if c.schema == allowed[0].schema]
            chosen_name = _pick([c.name for c in first], wanted)
            chosen = next(c for c in first if c.name == chosen_name)
        elif any(self._is_service_table(c.schema, c.name) for c in candidates):
            raise service_table_refused(wanted)
        else:
            raise no_such_table(wanted, schema_name)
        if chosen.kind == "f":
            raise InvalidInput(
                f"inputData: {chosen.name} is a foreign table; jobs read tables, views and materialized views."
            )
        reason = catalog.unsafe_reason(self.connection, chosen.oid)
        if reason is not None:
            raise InvalidInput(f"inputData: {chosen.name} cannot be read by a job: {reason}.")
        return chosen.schema, chosen.name

    def output_schema(self, schema_name: str | None) -> str | None:
        if schema_name is not None:
            schema = _pick(catalog.usable_schemas(self.connection, schema_name, create=True), schema_name)
            if schema is None:
                raise InvalidInput(
                    f"outputSchemaName: there is no schema {schema_name!r} where the job's database role "
                    "may create tables."
                )
            return schema
        schema = catalog.default_output_schema(self.connection)
        if schema is None:
            raise InvalidInput(
                "outputSchemaName: the job's database role may not create tables in its default schema "
                "(the first on its search path, usually its own); name a schema it may create tables in."
            )
        return schema

    def guard_input(self, table: Table) -> None:
        """Before each read, in the reading transaction: still readable, locked, and reading it runs no
        code but PostgreSQL's own (definitions cannot change until the transaction ends)."""
        schema = table.schema or ""
        if self._is_service_table(schema, table.name) or (
            catalog.readable_oid(self.connection, schema, table.name) is None
        ):
            raise no_such_table(table.name, table.schema)
        catalog.lock(self.connection, schema, table.name, "ACCESS SHARE")
        oid = catalog.readable_oid(self.connection, schema, table.name)
        if oid is None:
            raise no_such_table(table.name, table.schema)
        reason = catalog.unsafe_reason(self.connection, oid)
        if reason is not None:
            raise InvalidInput(f"inputData: {table.name} cannot be read by a job: {reason}.")

    def guard_output(self, table: Table) -> None:
        """Before each write, in the writing transaction: the table is still as omlsvc created it."""
        schema = table.schema or ""
        problem = catalog.output_tampering(self.connection, schema, table.name)
        if problem is None:
            catalog.lock(self.connection, schema, table.name, "ROW EXCLUSIVE")
            problem = catalog.output_tampering(self.connection, schema, table.name)
        if problem is not None:
            raise InvalidInput(f"The output table {table.name} cannot be written: {problem}.")

    def _access(self, relation: catalog.Relation) -> TableAccess:
        return TableAccess(
            service_table=self._is_service_table(relation.schema, relation.name),
            database_decides=True,
            granted=relation.readable,
        )

    def _is_service_table(self, schema: str, name: str) -> bool:
        return schema == self.connection.dialect.default_schema_name and name in service_metadata.tables


@contextmanager
def user_tables(
    connection: Connection, identity: JobIdentity, job_owner_of: JobOwnerOf | None = None
) -> Iterator[UserTables]:
    """User tables as ``identity`` sees them, on ``connection`` and in its transaction.

    On PostgreSQL the block runs as the identity's role (``SET LOCAL ROLE``), and ``RESET ROLE`` ends
    it, so omlsvc's own statements after the block run as omlsvc again. A block that fails on a
    database error leaves the role set: the transaction is aborted then, and its rollback ends it.
    """
    owner_of = job_owner_of or (lambda job_id: None)
    backend = connection.dialect.name
    if backend == "sqlite":
        yield UserTables(connection, identity, owner_of)
        return
    if backend != "postgresql":
        raise InvalidInput(
            f"Batch scoring jobs on {backend} run through a proxy session as the user's own schema "
            "(sql/oracle/grants.sql), which this version does not open yet."
        )
    preparer = connection.dialect.identifier_preparer
    try:
        connection.exec_driver_sql(f"SET LOCAL ROLE {preparer.quote_identifier(identity.db_role)}")
    except DBAPIError:
        raise InvalidInput(
            f"The database role {identity.db_role!r} of user {identity.principal.name} does not exist, or "
            "omlsvc's login is not a member of it (see sql/postgresql/grants.sql)."
        ) from None
    try:
        yield PostgresTables(connection, identity, owner_of)
    except DBAPIError:
        raise
    except BaseException:
        connection.exec_driver_sql("RESET ROLE")
        raise
    connection.exec_driver_sql("RESET ROLE")


def _pick(names: list[str], wanted: str) -> str | None:
    """``wanted`` itself if present, else its only case-insensitive match."""
    if wanted in names:
        return wanted
    matches = sorted({name for name in names if name.upper() == wanted.upper()})
    if len(matches) > 1:
        raise InvalidInput(
            f"{wanted!r} matches several names that differ only in case: {', '.join(matches)}."
        )
    return matches[0] if matches else None
