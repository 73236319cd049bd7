"""The statements and bind declarations batch jobs write output rows with, per database (issue 20).

Oracle is compile-only here (no server in the test environment): the statement must bind by
position in table order and declare label and double columns so that array binding never re-binds.
"""

from __future__ import annotations

import oracledb
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects.oracle.oracledb import dialect as oracle_dialect
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.dialects.sqlite.pysqlite import dialect as sqlite_dialect

from omlsvc.core.signature import Function
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.shapes import OutputBatch
from omlsvc.jobs.tables import DataTables, copy_statement, insert_statement, oracle_input_sizes
from tests.unit.jobs.test_plan import IRIS, props, spec


def output_table() -> Table:
    plan = ScoringPlan.build(
        IRIS, spec(Function.CLASSIFICATION), props(topN=2, supplementalColumnNames=["species"])
    )
    source = Table("iris_in", MetaData(), Column("id", Integer), Column("species", String(20)))
    return DataTables.output_table(None, "OML$JOB_OUT", plan, source)


def test_oracle_binds_by_position_with_declared_sizes() -> None:
    table = output_table()
    dialect = oracle_dialect()
    statement = insert_statement(dialect, table)
    assert statement.startswith('INSERT INTO "OML$JOB_OUT" (species, "OML$PREDICTION1", "OML$PROBABILITY1"')
    assert statement.count(":") == len(table.columns)
    assert oracle_input_sizes(dialect, table) == [
        None,  # a copied column: the driver infers it from the values
        4000,
        oracledb.DB_TYPE_BINARY_DOUBLE,
        4000,
        oracledb.DB_TYPE_BINARY_DOUBLE,
    ]


def test_sqlite_and_postgresql_statements_quote_generated_names() -> None:
    table = output_table()
    assert insert_statement(sqlite_dialect(), table).endswith("VALUES (?, ?, ?, ?, ?)")
    assert copy_statement(psycopg_dialect(), table) == (
        'COPY "OML$JOB_OUT" (species, "OML$PREDICTION1", "OML$PROBABILITY1", "OML$PREDICTION2", "OML$PROBABILITY2") '
        "FROM STDIN"
    )


def test_a_batch_must_match_the_table_columns() -> None:
    table = output_table()
    batch = OutputBatch(("species", "OML$PREDICTION1"), (["x"], ["a"]), 1)
    with pytest.raises(ValueError, match="not the table's"):
        DataTables(None).insert(table, batch)  # type: ignore[arg-type]
