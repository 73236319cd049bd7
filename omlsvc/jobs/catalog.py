"""What PostgreSQL's catalogue says a job's role may read and write.

Every query here runs inside ``SET LOCAL ROLE <the job's role>`` (see :mod:`omlsvc.jobs.access`), so
``has_*_privilege`` and ``current_schemas`` answer for that role: PostgreSQL's own privileges decide.

A role switch is no boundary against code that runs inside the session: a function called while a
job reads can ``RESET ROLE`` (or ``set_config('role', ...)``) and go on as the service's login. So
before a job reads a relation, :func:`unsafe_reason` checks that reading it runs no code but
PostgreSQL's own: a table (or materialized view) whose row security policies, and a view whose
definition, recursively use only

* built-in functions (schema ``pg_catalog``) that are immutable or stable, take no ``cstring`` or
  ``internal`` argument (type input functions, which could run a user domain's checks) and do not run
  SQL given as text (the ``*_to_xml`` family, ``ts_stat``, ``ts_rewrite``);
* built-in operators whose functions pass the same test;
* built-in types, or the row types of relations;
* other relations that pass the same test (foreign tables never do: their wrapper runs code).

The check and the read happen in one transaction, after ``LOCK TABLE ... IN ACCESS SHARE MODE``, which
also locks the relations a view reads: no definition or policy can change in between (that needs an
ACCESS EXCLUSIVE lock). An output table is written only after :func:`output_tampering` finds it still
as omlsvc created it, under ``ROW EXCLUSIVE`` (which keeps out triggers, rules, policies, defaults,
constraints and indexes added meanwhile): owned by the role, none of those, built-in column types.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

#: Schemas of the database itself; never a job's input or output schema.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
#: Built-in functions that run SQL given as text, or read whole tables named at run time.
SQL_RUNNING_FUNCTIONS = (
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    "ts_rewrite",
)
_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    kind: str
    readable: bool


_USABLE_SCHEMAS = text(
    """
    SELECT n.nspname FROM pg_catalog.pg_namespace n
    WHERE upper(n.nspname) = upper(:wanted)
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%'
      AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
      AND (NOT :create OR pg_catalog.has_schema_privilege(n.oid, 'CREATE'))
    """
)

_RELATIONS = text(
    """
    SELECT c.oid, n.nspname, c.relname, c.relkind,
           pg_catalog.has_schema_privilege(n.oid, 'USAGE')
             AND pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable,
           coalesce(pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname), 0) AS position
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE upper(c.relname) = upper(:wanted) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND CASE WHEN CAST(:schema AS text) IS NULL
               THEN n.nspname = ANY (pg_catalog.current_schemas(false))
               ELSE n.nspname = :schema END
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    ORDER BY position, c.relname
    """
)


def usable_schemas(connection: Connection, wanted: str, *, create: bool = False) -> list[str]:
    """Schemas named ``wanted`` (any case) the role may use (and, with ``create``, create tables in)."""
    rows = connection.execute(_USABLE_SCHEMAS, {"wanted": wanted, "create": create}).scalars()
    return list(rows)


def relations_named(connection: Connection, schema: str | None, wanted: str) -> list[Relation]:
    """Relations named ``wanted`` (any case) in ``schema``, or on the role's search path in path order,
    each with whether the role may read it."""
    rows = connection.execute(_RELATIONS, {"wanted": wanted, "schema": schema}).all()
    return [Relation(int(r.oid), r.nspname, r.relname, r.relkind, bool(r.readable)) for r in rows]


def default_output_schema(connection: Connection) -> str | None:
    """Where an unqualified ``CREATE TABLE`` by the role goes (its own schema first, with the usual
    ``"$user", public`` search path), if the role may create tables there."""
    row = connection.execute(
        text(
            "SELECT s, s IS NOT NULL AND pg_catalog.has_schema_privilege(s, 'CREATE') AS creatable "
            "FROM pg_catalog.current_schema() AS s"
        )
    ).one()
    return str(row.s) if row.creatable else None


def readable_oid(connection: Connection, schema: str, name: str) -> int | None:
    """The relation ``schema.name`` if the role may read it (else None, as if it did not exist)."""
    return connection.execute(
        text(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relname = :name "
            "AND pg_catalog.has_schema_privilege(n.oid, 'USAGE') "
            "AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"
        ),
        {"schema": schema, "name": name},
    ).scalar()


def lock(connection: Connection, schema: str, name: str, mode: str) -> None:
    preparer = connection.dialect.identifier_preparer
    assert mode in ("ACCESS SHARE", "ROW EXCLUSIVE")
    connection.exec_driver_sql(
        f"LOCK TABLE {preparer.quote_schema(schema)}.{preparer.quote(name)} IN {mode} MODE"
    )


# -- reading runs no code but PostgreSQL's own -------------------------------------------------------

_RELATION = text(
    "SELECT c.relkind, c.relrowsecurity, pg_catalog.format('%I.%I', n.nspname, c.relname) AS shown "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = :oid"
)
#: The objects whose expressions run when a relation is read: a view's rules, a table's row security
#: policies (when enabled) and virtual generated columns (PostgreSQL 18).
_CODE_OF = text(
    """
    SELECT 'pg_catalog.pg_rewrite'::regclass::oid AS classid, r.oid AS objid
      FROM pg_catalog.pg_rewrite r WHERE r.ev_class = :oid AND :kind = 'v'
    UNION ALL
    SELECT 'pg_catalog.pg_policy'::regclass::oid, p.oid
      FROM pg_catalog.pg_policy p WHERE p.polrelid = :oid AND :rowsecurity
    UNION ALL
    SELECT 'pg_catalog.pg_attrdef'::regclass::oid, d.oid
      FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
     WHERE d.adrelid = :oid AND a.attgenerated NOT IN ('', 's')
    """
)
_DEPENDENCIES = text(
    """
    SELECT d.refclassid::regclass::text AS catalog, d.refobjid
      FROM pg_catalog.pg_depend d
     WHERE d.classid = :classid AND d.objid = :objid
       AND NOT (d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = :oid)
    """
)
_FUNCTION = text(
    """
    SELECT p.oid::regprocedure::text AS shown,
           n.nspname = 'pg_catalog' AND p.provolatile IN ('i', 's') AND NOT p.prosecdef
             AND p.prokind IN ('f', 'a', 'w') AND NOT (p.proname = ANY (:denied))
             AND NOT ('pg_catalog.cstring'::regtype = ANY (p.proargtypes::oid[]))
             AND NOT ('pg_catalog.internal'::regtype = ANY (p.proargtypes::oid[])) AS allowed
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE p.oid = :oid
    """
)
_OPERATOR = text(
    "SELECT o.oid::regoperator::text AS shown, n.nspname = 'pg_catalog' AS builtin, o.oprcode::oid AS code "
    "FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace WHERE o.oid = :oid"
)
_TYPE = text(
    "SELECT t.oid::regtype::text AS shown, n.nspname = 'pg_catalog' OR t.typrelid <> 0 AS allowed "
    "FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = :oid"
)


def unsafe_reason(connection: Connection, oid: int) -> str | None:
    """Why reading relation ``oid`` could run code other than PostgreSQL's own (None: it cannot)."""
    seen: set[int] = set()
    pending = [oid]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        relation = connection.execute(_RELATION, {"oid": current}).one_or_none()
        if relation is None:
            continue
        kind = relation.relkind
        if kind == "f":
            return f"{relation.shown} is a foreign table"
        if kind not in ("r", "p", "v", "m", "c", "S"):
            return f"{relation.shown} is not a table or view"
        code = connection.execute(
            _CODE_OF, {"oid": current, "kind": kind, "rowsecurity": bool(relation.relrowsecurity)}
        ).all()
        for classid, objid in code:
            for catalog, ref in connection.execute(
                _DEPENDENCIES, {"classid": classid, "objid": objid, "oid": current}
            ).all():
                if catalog == "pg_class":
                    pending.append(int(ref))
                    continue
                problem = _dependency_problem(connection, catalog, int(ref))
                if problem is not None:
                    return f"{relation.shown} uses {problem}"
    return None


def _dependency_problem(connection: Connection, catalog: str, oid: int) -> str | None:
    if catalog == "pg_proc":
        return _function_problem(connection, oid)
    if catalog == "pg_operator":
        row = connection.execute(_OPERATOR, {"oid": oid}).one()
        if not row.builtin:
            return f"the operator {row.shown}, which is not built in"
        return None if _function_problem(connection, int(row.code)) is None else f"the operator {row.shown}"
    if catalog == "pg_type":
        row = connection.execute(_TYPE, {"oid": oid}).one()
        return None if row.allowed else f"the type {row.shown}, which is not built in"
    if catalog in ("pg_collation", "pg_namespace", "pg_ts_config", "pg_ts_dict"):
        return None
    return f"an object of {catalog}"


def _function_problem(connection: Connection, oid: int) -> str | None:
    row = connection.execute(_FUNCTION, {"oid": oid, "denied": list(SQL_RUNNING_FUNCTIONS)}).one()
    if row.allowed:
        return None
    return f"the function {row.shown}, which jobs may not run (only immutable or stable built-in functions)"


# -- writing into a table as omlsvc created it --------------------------------------------------------

_OUTPUT = text(
    """
    SELECT c.relkind = 'r' AS plain,
           c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) AS owned,
           c.relrowsecurity OR c.relhasrules
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype <> 'n')
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d WHERE d.adrelid = c.oid)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
                          AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL))
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                           AND t.typnamespace <> 'pg_catalog'::regnamespace) AS changed
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND c.relname = :name
    """
)


def output_tampering(connection: Connection, schema: str, name: str) -> str | None:
    """Why the output table must not be written (None: it is as omlsvc created it). Call after
    :func:`lock` in ``ROW EXCLUSIVE`` mode, in the transaction that writes."""
    row = connection.execute(_OUTPUT, {"schema": schema, "name": name}).one_or_none()
    if row is None:
        return "it does not exist"
    if not row.plain or not row.owned:
        return "it is not a table owned by the job's database role"
    if row.changed:
        return (
            "triggers, rules, policies, constraints, column defaults, expression indexes or "
            "user-defined column types were added to it"
        )
    return None
