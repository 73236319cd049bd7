"""The scheduler scripts in ``sql/`` and the schema upgrade that brings the job tables.

PostgreSQL's ``omlsvc_enqueue_run`` is executed in ``test_job_runner.py``; Oracle's script cannot run
here, so it is checked against the schema: every table and column it names exists, and its INSERT
gives every column the table requires.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Table, inspect, select

from omlsvc.core.clock import utcnow
from omlsvc.db.engine import make_engine
from omlsvc.db.schema import SCHEMA_VERSION, job_chunks, job_runs, jobs, metadata, schema_info
from omlsvc.db.setup import init_schema

SQL = Path(__file__).resolve().parents[2] / "sql"


def required_columns(table: Table) -> set[str]:
    return {c.name for c in table.columns if not c.nullable and c.server_default is None}


@pytest.mark.parametrize("dialect", ["postgresql", "oracle"])
def test_the_enqueue_scripts_insert_every_required_column_of_job_runs(dialect: str) -> None:
    script = (SQL / dialect / "jobs.sql").read_text()
    (columns,) = re.findall(r"INSERT INTO job_runs \(([^)]*)\)", script)
    named = {name.strip() for name in columns.split(",")}
    assert named <= set(job_runs.c.keys()), named - set(job_runs.c.keys())
    assert required_columns(job_runs) <= named, required_columns(job_runs) - named
    assert "WHERE job_id = p_job_id AND status IN ('PENDING', 'RUNNING')" in " ".join(script.split())
    assert "FROM jobs WHERE id = p_job_id FOR UPDATE" in " ".join(script.split())


def test_the_oracle_script_reads_only_columns_the_jobs_table_has() -> None:
    script = (SQL / "oracle" / "jobs.sql").read_text()
    used = set(re.findall(r"v_job\.([a-z_]+)", script))
    assert used and used <= set(jobs.c.keys()), used - set(jobs.c.keys())
    assert "jobs%ROWTYPE" in script
    assert "DBMS_SCHEDULER.CREATE_JOB" in script and "job_action          => 'OMLSVC_ENQUEUE_RUN'" in script
    # every statement and block ends with the SQL*Plus terminator, as in the other Oracle files
    assert script.count("\n/\n") == 2


def test_the_postgresql_script_reads_only_columns_the_jobs_table_has() -> None:
    script = (SQL / "postgresql" / "jobs.sql").read_text()
    (selected,) = re.findall(r"SELECT (max_runs[^I]*) INTO", script)
    assert {c.strip() for c in selected.split(",")} <= set(jobs.c.keys())
    assert "%" not in script  # drivers read % as a placeholder when the file is run through them


def test_upgrading_a_version_1_database_adds_the_job_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    job_tables = {jobs.name, job_runs.name, job_chunks.name}
    old = [t for t in metadata.sorted_tables if t.name not in job_tables]
    metadata.create_all(engine, tables=old)
    with engine.begin() as connection:
        connection.execute(schema_info.insert().values(id=1, version=1, updated_at=utcnow()))
    assert init_schema(engine) == SCHEMA_VERSION
    assert job_tables <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(select(schema_info.c.version)).scalar() == SCHEMA_VERSION
    engine.dispose()
