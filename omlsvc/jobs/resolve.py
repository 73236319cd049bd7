"""Where a job reads and writes: its input found as the job's identity may read it and fitted to the
model, its output schema and name checked. Used when a job is created and again by the runner before
each run, since tables and grants change; runs in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Table

from omlsvc.core.errors import InvalidInput
from omlsvc.core.signature import ScoringSpec
from omlsvc.jobs import lifecycle
from omlsvc.jobs.access import JobIdentity, JobOwnerOf, user_tables
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.tables import DataTables


@dataclass(frozen=True)
class ResolvedInput:
    """Where a job reads and writes, with the real names reflection found."""

    input_schema: str | None
    input_table: Table
    output_schema: str | None
    plan: ScoringPlan


def resolve_tables(
    connection: Connection,
    job_id: str,
    properties: ScoringJobProperties,
    spec: ScoringSpec,
    identity: JobIdentity,
    job_owner_of: JobOwnerOf,
) -> ResolvedInput:
    """Find the input as the job's identity may read it, fit it to the model and check the output
    name; InvalidInput otherwise. A table the identity may not read is reported exactly like one that
    does not exist, before anything about it (its columns) is looked at.

    ``job_owner_of(job_id)`` names the owner of another job (whose output may be this job's input on
    SQLite). Used at creation and again by the runner before each run, since tables and grants change.
    Runs in the caller's transaction; omlsvc's own statements after it run as omlsvc again.
    """
    with user_tables(connection, identity, job_owner_of) as user:
        schema, name = user.find_input(properties.input_schema, properties.input_data)
        table = user.tables.reflect(schema, name)
        plan = ScoringPlan.build(DataTables.shape(table), spec, properties)
        output_schema = user.output_schema(properties.output_schema)
        limit = user.tables.max_identifier_length
    output_name = lifecycle.output_table_name(job_id, properties.output_data)
    if len(output_name.encode()) > limit:
        room = limit - len(job_id) - 1
        raise InvalidInput(
            f"outputData {properties.output_data!r} is too long: the output table {{jobId}}_{{outputData}} may have "
            f"{limit} characters on this database, which leaves {room} for outputData."
        )
    return ResolvedInput(schema, table, output_schema, plan)


class OutputPlace(Protocol):
    """Where a job of any type writes: its ``outputSchemaName``."""

    @property
    def output_schema(self) -> str | None: ...


def drop_output_table(
    connection: Connection, identity: JobIdentity, properties: OutputPlace, table_name: str
) -> None:
    """Drop a job's output (or staging) table ``table_name`` as the job's identity, if it is there."""
    with user_tables(connection, identity) as user:
        try:
            schema = user.output_schema(properties.output_schema)
        except InvalidInput:
            return
        user.tables.drop(schema, table_name)
