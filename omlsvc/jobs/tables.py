"""SQL over the users' own tables: finding and reflecting the input, reading it in key ranges,
creating, filling, swapping and dropping output tables.

No request text is ever spliced into SQL: names are looked up among what reflection reports (so a
name only ever becomes one that exists), generated names are validated identifiers, and every
statement is built with SQLAlchemy Core, which quotes identifiers. Names match case-insensitively
(``IRIS_IN`` finds PostgreSQL's ``iris_in``); generated names such as ``OML$..._IRIS_OUT`` are always
quoted, so they keep their case everywhere.

Key values cross transactions (the range checkpoints in ``job_chunks``) as text: :func:`encode_key`
and :func:`decode_key` keep their Python type, so a range query binds the same kind of value the
column returned.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import oracle, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import NoSuchTableError, ProgrammingError
from sqlalchemy.schema import CreateTable, DropTable

from omlsvc.core.errors import InvalidInput
from omlsvc.db.schema import metadata as service_metadata
from omlsvc.jobs import shapes as p
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.shapes import OutputBatch

#: Output label columns (class names, cluster ids): long enough for any label.txt line.
LABEL_LENGTH = 4000
#: Schemas that belong to the database itself; never read as job input.
SYSTEM_SCHEMAS = frozenset({"PG_CATALOG", "INFORMATION_SCHEMA", "PG_TOAST", "SYS", "SYSTEM", "XDB", "MDSYS"})

_DOUBLE: sqltypes.TypeEngine[float] = Double().with_variant(oracle.BINARY_DOUBLE(), "oracle")


def column_kind(type_: sqltypes.TypeEngine[Any]) -> str:
    """The kind of a reflected column type, in the words :mod:`omlsvc.jobs.fitting` checks."""
    if isinstance(type_, sqltypes.Boolean):
        return p.BOOLEAN
    # Float is no Numeric subclass from SQLAlchemy 2.1 on
    if isinstance(type_, sqltypes.Integer | sqltypes.Numeric | sqltypes.Float):
        return p.NUMBER
    if isinstance(type_, sqltypes.String):
        return p.STRING
    if isinstance(type_, sqltypes._Binary):
        return p.BINARY
    if isinstance(type_, sqltypes.Date | sqltypes.DateTime | sqltypes.Time | sqltypes.Interval):
        return p.TEMPORAL
    return p.OTHER


class DataTables:
    """SQL on input and output tables, over the caller's connection (and so its transaction)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def max_identifier_length(self) -> int:
        return int(self._connection.dialect.max_identifier_length or 128)

    # -- finding and describing ------------------------------------------------------------------

    def find_schema(self, name: str | None, field: str) -> str | None:
        """The real name of schema ``name`` (None: the connection's default schema)."""
        if name is None:
            return None
        if name.upper() in SYSTEM_SCHEMAS:
            raise InvalidInput(f"{field} {name!r} is a system schema; job tables live in user schemas.")
        found = _match(inspect(self._connection).get_schema_names(), name)
        if found is None:
            raise InvalidInput(f"{field}: there is no schema {name!r}.")
        return found

    def is_default_schema(self, schema: str | None) -> bool:
        default = inspect(self._connection).default_schema_name
        return schema is None or (default is not None and schema.upper() == default.upper())

    def find_table(self, schema: str | None, name: str) -> str | None:
        """The real name of table or view ``name`` in ``schema``, matched case-insensitively."""
        inspector = inspect(self._connection)
        names = list(inspector.get_table_names(schema=schema)) + list(inspector.get_view_names(schema=schema))
        return _match(names, name)

    def reflect(self, schema: str | None, name: str) -> Table:
        try:
            return Table(name, MetaData(), schema=schema, autoload_with=self._connection)
        except NoSuchTableError:
            raise InvalidInput(f"inputData: the table or view {name!r} does not exist.") from None

    @staticmethod
    def shape(table: Table) -> p.TableShape:
        return p.TableShape(
            schema=table.schema,
            name=table.name,
            columns=tuple(p.ColumnShape(c.name, column_kind(c.type)) for c in table.columns),
            primary_key=tuple(c.name for c in table.primary_key.columns),
        )

    def exists(self, schema: str | None, name: str) -> bool:
        return bool(inspect(self._connection).has_table(name, schema=schema))

    @staticmethod
    def is_service_table(name: str) -> bool:
        return name.lower() in service_metadata.tables

    # -- reading ---------------------------------------------------------------------------------

    def next_boundary(self, table: Table, key: str, after: Any, limit: int) -> tuple[Any, int]:
        """(last key, row count) of the next ``limit`` rows after key ``after`` (None: from the start).

        Only keys travel: with an index on the key (a primary key has one) this is an index range scan.
        Rows whose key is NULL are never read.
        """
        column = table.c[key]
        query = select(column.label("k")).where(column.is_not(None)).order_by(column).limit(limit)
        if after is not None:
            query = query.where(column > after)
        window = query.subquery()
        last, count = self._connection.execute(
            select(func.max(window.c.k), func.count()).select_from(window)
        ).one()
        return last, int(count)

    def read_next(self, table: Table, key: str, columns: Sequence[str], after: Any, limit: int) -> list[Any]:
        """The next ``limit`` rows after key ``after`` (None: from the start), in key order: a chunk
        claimed and read in one statement, its last row's key the chunk's upper bound. Rows whose key
        is NULL are never read. A plain (client-side) cursor: the ``LIMIT`` bounds what it holds."""
        column = table.c[key]
        query = select(*(table.c[name] for name in columns)).where(column.is_not(None))
        if after is not None:
            query = query.where(column > after)
        return list(self._connection.execute(query.order_by(column).limit(limit)).all())

    def read_range(
        self, table: Table, key: str, columns: Sequence[str], lo: Any, hi: Any, *, fetch_rows: int = 10_000
    ) -> list[Any]:
        """The rows with ``lo < key <= hi`` (no lower bound when ``lo`` is None), in key order.

        Read through a server-side cursor where the driver has one (PostgreSQL: a named cursor), in
        ``fetch_rows`` at a time: a range is a chunk, so one or two fetches, and never the whole
        table held twice. Streaming is asked of the statement, not the connection, which the checkpoint
        then writes on (see ARCHITECTURE pitfalls).
        """
        column = table.c[key]
        query = select(*(table.c[name] for name in columns)).where(column.is_not(None), column <= hi)
        if lo is not None:
            query = query.where(column > lo)
        query = query.order_by(column).execution_options(stream_results=True, max_row_buffer=fetch_rows)
        rows: list[Any] = []
        with self._connection.execute(query) as result:
            while part := result.fetchmany(fetch_rows):
                rows += part
        return rows

    # -- output tables ---------------------------------------------------------------------------

    @staticmethod
    def output_table(schema: str | None, name: str, plan: ScoringPlan, source: Table) -> Table:
        """The output table's definition: supplemental columns typed like their source, then ours."""
        columns = []
        for output in plan.outputs:
            if output.kind == p.COPY:
                source_type = source.c[output.source or output.name].type
                while isinstance(source_type, postgresql.DOMAIN):
                    # the base type: a domain's checks would run the domain owner's code on every insert
                    source_type = source_type.data_type
                if isinstance(source_type, sqltypes.NullType | sqltypes.Enum):
                    source_type = String()
                columns.append(Column(output.name, source_type))  # the source's name, quoted as it is
            elif output.kind == p.DOUBLE:
                columns.append(Column(output.name, _DOUBLE, quote=True))
            elif output.kind == p.INTEGER:
                columns.append(Column(output.name, Integer, quote=True))
            else:
                columns.append(Column(output.name, String(LABEL_LENGTH), quote=True))
        return Table(name, MetaData(), *columns, schema=schema, quote=True)

    def create(self, table: Table) -> None:
        """Create ``table`` unless it exists (another runner may be creating it at the same moment)."""
        if self.exists(table.schema, table.name):
            return
        try:
            with self._connection.begin_nested():
                self._connection.execute(CreateTable(table))
        except ProgrammingError:
            if not self.exists(table.schema, table.name):
                raise

    def drop(self, schema: str | None, name: str) -> None:
        if self.exists(schema, name):
            self._connection.execute(DropTable(Table(name, MetaData(), schema=schema, quote=True)))

    def rename(self, table: Table, new_name: str) -> None:
        preparer = self._connection.dialect.identifier_preparer
        self._connection.exec_driver_sql(
            f"ALTER TABLE {preparer.format_table(table)} RENAME TO {preparer.quote_identifier(new_name)}"
        )

    def insert(self, table: Table, batch: OutputBatch) -> None:
        """Insert output rows in the caller's transaction (and so as its role), with each database's
        bulk path on the driver's own cursor: COPY on PostgreSQL (psycopg 3), executemany with array
        binding and declared input sizes on Oracle, one executemany on SQLite. Values go through
        the column types' own bind processors first, as SQLAlchemy would send them."""
        if not batch.rows:
            return
        names = tuple(column.name for column in table.columns)
        if batch.names != names:
            raise ValueError(f"the batch's columns {batch.names} are not the table's {names}")
        dialect = self._connection.dialect
        columns = list(batch.columns)
        for position, column in enumerate(table.columns):
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                columns[position] = [None if v is None else process(v) for v in columns[position]]
        rows = list(zip(*columns, strict=True))
        raw = self._connection.connection.driver_connection
        assert raw is not None
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            with raw.cursor() as cursor, cursor.copy(copy_statement(dialect, table)) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        cursor = raw.cursor()
        try:
            if dialect.name == "oracle":
                cursor.setinputsizes(*oracle_input_sizes(dialect, table))
            cursor.executemany(insert_statement(dialect, table), rows)
        finally:
            cursor.close()


def copy_statement(dialect: Dialect, table: Table) -> str:
    """``COPY table (columns) FROM STDIN``, names quoted as the table was created."""
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(column.name) for column in table.columns)
    return f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN"


def insert_statement(dialect: Dialect, table: Table) -> str:
    """A positional ``INSERT`` of every column in table order, for the driver's own ``executemany``
    (SQLAlchemy writes it, quoting the names, in the driver's parameter style)."""
    return str(insert(table).compile(dialect=dialect))


def oracle_input_sizes(dialect: Dialect, table: Table) -> list[Any]:
    """python-oracledb input sizes, one per column: doubles as BINARY_DOUBLE, integers as numbers,
    labels as strings of their declared length, so array binding never re-binds mid-batch when a
    later row holds a longer string or a None; copied columns are left to the driver (None)."""
    import oracledb  # the Oracle driver, needed only where Oracle is the database

    sizes: list[Any] = []
    for column in table.columns:
        type_ = column.type.dialect_impl(dialect)
        if isinstance(type_, oracle.BINARY_DOUBLE | sqltypes.Double) and column.name.startswith(p.PREFIX):
            sizes.append(oracledb.DB_TYPE_BINARY_DOUBLE)
        elif isinstance(type_, sqltypes.Integer) and column.name.startswith(p.PREFIX):
            sizes.append(oracledb.DB_TYPE_NUMBER)
        elif isinstance(type_, sqltypes.String) and column.name.startswith(p.PREFIX):
            sizes.append(type_.length or LABEL_LENGTH)
        else:
            sizes.append(None)
    return sizes


def _match(names: Sequence[str], wanted: str) -> str | None:
    if wanted in names:
        return wanted
    matches = [name for name in names if name.upper() == wanted.upper()]
    if len(matches) > 1:
        raise InvalidInput(
            f"{wanted!r} matches several names that differ only in case: {', '.join(matches)}."
        )
    return matches[0] if matches else None


# -- key checkpoints --------------------------------------------------------------------------------


def encode_key(value: Any) -> str:
    """A key value as text for ``job_chunks``, tagged with its type so it decodes to the same type."""
    if isinstance(value, bool):
        return json.dumps(["b", value])
    if isinstance(value, int):
        return json.dumps(["i", value])
    if isinstance(value, float):
        return json.dumps(["f", value])
    if isinstance(value, Decimal):
        return json.dumps(["d", str(value)])
    if isinstance(value, str):
        return json.dumps(["s", value])
    if isinstance(value, datetime):
        return json.dumps(["dt", value.isoformat()])
    if isinstance(value, date):
        return json.dumps(["da", value.isoformat()])
    if isinstance(value, time):
        return json.dumps(["t", value.isoformat()])
    if isinstance(value, bytes | bytearray | memoryview):
        return json.dumps(["x", base64.b64encode(bytes(value)).decode()])
    raise InvalidInput(f"key values of type {type(value).__name__} cannot be used to read a table in order.")


def decode_key(text: str | None) -> Any:
    if text is None:
        return None
    tag, value = json.loads(text)
    decoders: dict[str, Any] = {
        "b": bool,
        "i": int,
        "f": float,
        "d": Decimal,
        "s": str,
        "dt": datetime.fromisoformat,
        "da": date.fromisoformat,
        "t": time.fromisoformat,
        "x": base64.b64decode,
    }
    return decoders[tag](value)
