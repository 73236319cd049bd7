"""What a batch scoring job may read and write is decided by the database, as the job owner's identity.

On PostgreSQL a job runs as its owner's role (``SET LOCAL ROLE``): PostgreSQL's own privileges decide,
and output tables belong to that role. On SQLite an administrator grants tables (``omlsvc tables
grant``). Everywhere, a table its owner may not read answers exactly like one that does not exist, and
nothing in an answer or a run record carries a value from a table.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, inspect, text

from omlsvc.wiring import Services
from tests.api.conftest import Caller
from tests.api.forms import store_model
from tests.api.test_jobs import JOBS, act, create, job_body, path, runner
from tests.jobdata import InputTables, count_rows, grant_table, read_table, table_owner
from tests.modelzoo import make_regressor_zip, make_zipmap_classifier_zip

SECRET = "078-05-1120"  # a value in alice's table that bob must never see


@pytest.fixture
def bobs_classifier(bob: Caller, tmp_path: Path) -> str:
    return store_model(bob, make_zipmap_classifier_zip(tmp_path).zip_path, name="iris")


def grant_to(database: tuple[str, Engine], db_roles: dict[str, str | None], table: str, user: str) -> None:
    """What an administrator does: ``omlsvc tables grant`` on SQLite, ``GRANT SELECT`` to the role on PostgreSQL."""
    grant_table(database[1], table, user, db_roles.get(user))


def everything_bob_sees(bob: Caller, job_id: str) -> str:
    return json.dumps([bob.get(path(job_id)).json, bob.get(path(job_id, "/runs")).json, bob.get(JOBS).json])


# -- refused like a table that does not exist ---------------------------------------------------------


def test_bobs_job_on_alices_table_is_refused_as_no_such_table_until_it_is_granted(
    bob: Caller,
    bobs_classifier: str,
    iris_table: str,
    services: Services,
    database: tuple[str, Engine],
    db_roles: dict[str, str | None],
) -> None:
    refused = bob.post(JOBS, json=job_body(bobs_classifier, iris_table))
    missing = bob.post(JOBS, json=job_body(bobs_classifier, "NO_SUCH_TABLE"))
    assert refused.status_code == missing.status_code == 400
    assert refused.json["code"] == missing.json["code"] == "INVALID_INPUT"
    assert refused.json["message"] == missing.json["message"].replace("NO_SUCH_TABLE", iris_table)
    assert refused.json["message"] == f"inputData: there is no table or view {iris_table!r}."
    # asking for a column does not make the table tell its columns either
    body = job_body(bobs_classifier, iris_table, supplementalColumnNames=["customer_id"])
    assert bob.post(JOBS, json=body).json == refused.json
    assert bob.get(JOBS).json["items"] == []

    grant_to(database, db_roles, iris_table, "bob")
    job_id = create(bob, job_body(bobs_classifier, iris_table))
    runner(services).run_until_idle()
    (run,) = bob.get(path(job_id, "/runs")).json
    assert (run["jobRunStatus"], run["rowsScored"]) == ("SUCCEEDED", 150)
    assert count_rows(database[1], f"{job_id}_IRIS_OUT") == 150
    if database[1].dialect.name == "postgresql":
        assert table_owner(database[1], f"{job_id}_IRIS_OUT") == db_roles["bob"]


def test_a_table_revoked_before_a_run_fails_it_as_no_such_table(
    bob: Caller,
    bobs_classifier: str,
    iris_table: str,
    services: Services,
    database: tuple[str, Engine],
    db_roles: dict[str, str | None],
) -> None:
    grant_to(database, db_roles, iris_table, "bob")
    job_id = create(bob, job_body(bobs_classifier, iris_table, disableJob=True))
    if database[1].dialect.name == "sqlite":
        services.table_grants.revoke(iris_table, "bob")
    else:
        with database[1].begin() as connection:
            connection.execute(text(f'REVOKE SELECT ON "{iris_table}" FROM "{db_roles["bob"]}"'))
    assert act(bob, job_id, "RUN").status_code == 204
    runner(services).run_until_idle()
    (run,) = bob.get(path(job_id, "/runs")).json
    assert run["jobRunStatus"] == "FAILED"
    assert run["errorMessage"] == f"inputData: there is no table or view {iris_table!r}."
    assert count_rows_or_none(database[1], f"{job_id}_IRIS_OUT") in (None, 0)


def count_rows_or_none(engine: Engine, table: str) -> int | None:
    """The rows of ``table``, or None if it was never created."""
    return count_rows(engine, table) if inspect(engine).has_table(table) else None


def test_jobs_read_their_owners_outputs_and_admins_read_everything_but_omlsvcs_tables(
    alice: Caller,
    bob: Caller,
    admin: Caller,
    tmp_path: Path,
    iris_table: str,
    services: Services,
    database: tuple[str, Engine],
    db_roles: dict[str, str | None],
) -> None:
    model = store_model(alice, make_zipmap_classifier_zip(tmp_path).zip_path, name="iris", shared="true")
    first = create(alice, job_body(model, iris_table))
    runner(services).run_until_idle()
    output = f"{first}_IRIS_OUT"
    # alice's jobs may read her first job's output (it just does not fit this model); bob's may not
    body = job_body(model, output, keyColumnName="id", supplementalColumnNames=["id"])
    fits_not = alice.post(JOBS, json=body)
    assert fits_not.status_code == 400 and "OML$PREDICTION1" in fits_not.json["message"]
    refused = bob.post(JOBS, json=body)
    assert refused.status_code == 400
    assert refused.json["message"] == f"inputData: there is no table or view {output!r}."
    own = admin.post(JOBS, json=job_body(model, "job_chunks"))
    assert own.status_code == 400 and "one of omlsvc's own tables" in own.json["message"]
    if database[1].dialect.name == "sqlite":
        # an administrator's jobs read every user table without a grant
        assert admin.post(JOBS, json=job_body(model, iris_table)).status_code == 201
    else:
        # on PostgreSQL an administrator is no exception: the admin's role decides
        assert admin.post(JOBS, json=job_body(model, iris_table)).status_code == 400
        grant_to(database, db_roles, iris_table, "admin")
        assert admin.post(JOBS, json=job_body(model, iris_table)).status_code == 201


# -- no row value in any answer or run record -----------------------------------------------------------


@pytest.fixture
def measurements_with_a_secret(tables: InputTables) -> str:
    """Measurements kept as text, one of them a value no run record may quote."""
    name = tables.name("measured")
    table = Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        *(Column(c, String(20)) for c in ("a", "b", "c")),
    )
    table.metadata.create_all(tables.engine)
    tables._made.append(name)
    tables.grant(name)
    rows = [{"id": i, "a": "5.1", "b": "3.5", "c": "1.4"} for i in range(30)]
    rows[17]["b"] = SECRET
    with tables.engine.begin() as connection:
        connection.execute(insert(table), rows)
    return name


def test_a_value_the_model_refuses_is_named_by_column_and_key_not_quoted(
    alice: Caller,
    tmp_path: Path,
    measurements_with_a_secret: str,
    services: Services,
    database: tuple[str, Engine],
) -> None:
    model = store_model(alice, make_regressor_zip(tmp_path).zip_path, name="reg")
    job_id = create(alice, job_body(model, measurements_with_a_secret, supplementalColumnNames=["id"]))
    runner(services, chunk_rows=10).run_until_idle()
    (run,) = alice.get(path(job_id, "/runs")).json
    assert run["jobRunStatus"] == "FAILED"
    assert run["errorMessage"] == (
        "Scoring the rows with id from 10 to 19 failed: the value in column b of the row with id = 17 does not "
        "fit the model input 'float_input'"
    )
    seen = json.dumps([alice.get(path(job_id)).json, alice.get(path(job_id, "/runs")).json])
    assert SECRET not in seen
    with database[1].connect() as connection:
        recorded = connection.execute(text("SELECT error_message FROM job_runs")).scalars().all()
    assert all(SECRET not in (message or "") for message in recorded)
    assert count_rows(database[1], f"{job_id}_IRIS_OUT") == 10  # the chunk before stays


# -- PostgreSQL: the database's own privileges, and no way around them ----------------------------------

postgres_only = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture
def other_schema(database: tuple[str, Engine]) -> Iterator[str]:
    """Another application's schema on the same server, with a table in it."""
    schema = f"omlsvc_other_{uuid.uuid4().hex[:10]}"
    with database[1].begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        connection.execute(text(f'CREATE TABLE "{schema}".payroll (id integer PRIMARY KEY, ssn text)'))
        connection.execute(text(f"INSERT INTO \"{schema}\".payroll VALUES (1, '{SECRET}')"))
    yield schema
    with database[1].begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.mark.postgres
@postgres_only
def test_input_and_output_schemas_are_those_the_role_may_use(
    bob: Caller, bobs_classifier: str, other_schema: str, iris_table: str, database: tuple[str, Engine]
) -> None:
    body = job_body(bobs_classifier, "payroll", inputSchemaName=other_schema)
    refused = bob.post(JOBS, json=body)
    assert refused.status_code == 400
    assert refused.json["message"] == f"inputSchemaName: there is no schema {other_schema!r}."
    missing = bob.post(JOBS, json=job_body(bobs_classifier, "payroll", inputSchemaName="NO_SUCH_SCHEMA"))
    assert missing.json["message"] == refused.json["message"].replace(other_schema, "NO_SUCH_SCHEMA")
    assert (
        bob.post(JOBS, json=job_body(bobs_classifier, "payroll", inputSchemaName="pg_catalog")).status_code
        == 400
    )

    grant_to_bob = f'GRANT SELECT ON "{iris_table}" TO "{bob_role(database)}"'
    with database[1].begin() as connection:
        connection.execute(text(grant_to_bob))
        connection.execute(text(f'GRANT USAGE ON SCHEMA "{other_schema}" TO "{bob_role(database)}"'))
    # bob may use the schema but not create tables in it: no output there
    body = job_body(bobs_classifier, iris_table, outputSchemaName=other_schema)
    result = bob.post(JOBS, json=body)
    assert result.status_code == 400
    assert result.json["message"] == (
        f"outputSchemaName: there is no schema {other_schema!r} where the job's database role may create tables."
    )
    assert SECRET not in result.text


def bob_role(database: tuple[str, Engine]) -> str:
    with database[1].connect() as connection:
        return str(connection.execute(text("SELECT db_role FROM users WHERE name = 'bob'")).scalar_one())


def as_role(engine: Engine, role: str, *statements: str) -> list[Any]:
    """Run SQL as ``role`` itself, as bob would in his own session; the last statement's rows."""
    rows: list[Any] = []
    with engine.begin() as connection:
        connection.execute(text(f'SET LOCAL ROLE "{role}"'))
        for statement in statements:
            result = connection.execute(text(statement))
            rows = list(result.all()) if result.returns_rows else []
    return rows


def escape_function(name: str, secret_table: str) -> str:
    """A function that switches back to omlsvc's login and reads what bob may not."""
    return f"""
        CREATE FUNCTION "{name}"() RETURNS TABLE (id integer, a float8, b float8, c float8, d float8)
        LANGUAGE plpgsql AS $f$
        BEGIN
          RESET ROLE;
          RETURN QUERY SELECT s.id, 1.0::float8, 1.0::float8, 1.0::float8, length(s.ssn)::float8
                       FROM "{secret_table}" s;
        END $f$"""


@pytest.fixture
def secret_of_alice(tables: InputTables) -> str:
    name = tables.name("secret")
    with tables.engine.begin() as connection:
        connection.execute(text(f'CREATE TABLE "{name}" (id integer PRIMARY KEY, ssn text)'))
        connection.execute(text(f"INSERT INTO \"{name}\" VALUES (1, '{SECRET}')"))
    tables._made.append(name)
    return name


@pytest.mark.postgres
@postgres_only
def test_a_view_over_a_function_that_resets_the_role_is_refused(
    bob: Caller, bobs_classifier: str, secret_of_alice: str, services: Services, database: tuple[str, Engine]
) -> None:
    role, engine = bob_role(database), database[1]
    # letters only: the answers must not hold the secret's length, so no digit may come from the names
    suffix = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    function, view = f"escape_{suffix}", f"escape_view_{suffix}"
    as_role(engine, role, escape_function(function, secret_of_alice))
    as_role(engine, role, f'CREATE VIEW "{view}" AS SELECT * FROM "{function}"()')
    # the attempt is real: bob's own session reads alice's secret through it
    assert as_role(engine, role, f'SELECT d FROM "{view}"') == [(len(SECRET),)]
    try:
        result = bob.post(JOBS, json=job_body(bobs_classifier, view, supplementalColumnNames=["id"]))
        assert result.status_code == 400
        assert result.json["message"].startswith(f"inputData: {view} cannot be read by a job: ")
        assert f"the function {function}()" in result.json["message"]
        assert SECRET not in result.text and str(len(SECRET)) not in result.text

        # a harmless view when the job is created, swapped for the escape before it runs
        as_role(
            engine,
            role,
            f'CREATE OR REPLACE VIEW "{view}" AS SELECT 1 AS id, 1.0::float8 AS a, '
            "1.0::float8 AS b, 1.0::float8 AS c, 1.0::float8 AS d",
        )
        job_id = create(
            bob,
            job_body(
                bobs_classifier, view, supplementalColumnNames=["id"], keyColumnName="id", disableJob=True
            ),
        )
        as_role(engine, role, f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM "{function}"()')
        assert act(bob, job_id, "RUN").status_code == 204
        runner(services).run_until_idle()
        (run,) = bob.get(path(job_id, "/runs")).json
        assert run["jobRunStatus"] == "FAILED"
        assert "cannot be read by a job" in run["errorMessage"]
        assert SECRET not in everything_bob_sees(bob, job_id)
        assert count_rows_or_none(engine, f"{job_id}_IRIS_OUT") in (None, 0)
    finally:
        as_role(engine, role, f'DROP VIEW IF EXISTS "{view}"', f'DROP FUNCTION "{function}"()')


@pytest.mark.postgres
@postgres_only
def test_a_trigger_added_to_an_output_table_stops_the_next_run(
    bob: Caller,
    bobs_classifier: str,
    iris_table: str,
    secret_of_alice: str,
    services: Services,
    database: tuple[str, Engine],
    db_roles: dict[str, str | None],
) -> None:
    role, engine = bob_role(database), database[1]
    grant_to(database, db_roles, iris_table, "bob")
    job_id = create(bob, job_body(bobs_classifier, iris_table))
    runner(services).run_until_idle()
    output = f"{job_id}_IRIS_OUT"
    assert table_owner(engine, output) == role
    function = f"steal_{uuid.uuid4().hex[:8]}"
    as_role(
        engine,
        role,
        f"""CREATE FUNCTION "{function}"() RETURNS trigger LANGUAGE plpgsql AS $f$
            BEGIN
              RESET ROLE;
              NEW.species := (SELECT ssn FROM "{secret_of_alice}" LIMIT 1);
              RETURN NEW;
            END $f$""",
        f'CREATE TRIGGER steal BEFORE INSERT ON "{output}" FOR EACH ROW EXECUTE FUNCTION "{function}"()',
    )
    try:
        assert act(bob, job_id, "RUN").status_code == 204
        runner(services).run_until_idle()
        last, first = bob.get(path(job_id, "/runs")).json
        assert (first["jobRunStatus"], last["jobRunStatus"]) == ("SUCCEEDED", "FAILED")
        assert last["errorMessage"].startswith(
            f"Writing the output failed: The output table {output} cannot be written"
        )
        assert all(row["species"] != SECRET for row in read_table(engine, output))
        assert count_rows(engine, output) == 150
    finally:
        as_role(engine, role, f'DROP TRIGGER steal ON "{output}"', f'DROP FUNCTION "{function}"()')
