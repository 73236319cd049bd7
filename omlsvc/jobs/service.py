"""Use cases of batch scoring jobs (spec ``oml-jobs.md`` sections 3-10).

Ownership follows models, one step stricter: a job belongs to its creator, who alone (with the
``admin`` role) sees and manages it; another user's job does not exist for them (404). Its model
must be visible to the creator (their own or shared) when the job is created and when it runs.

Everything the job will read is checked at creation, so a mistake is a 400 naming the problem
rather than a failed run later: the input table or view exists (names match case-insensitively),
its columns fit the model (:mod:`omlsvc.jobs.plan`), the output name fits the database's identifier
limit. Tables of omlsvc itself and other users' job outputs are never job input.

Jobs are created and updated synchronously: ``jobStatus`` is CREATED or UPDATED, and ``/check``
always answers "done".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table

from omlsvc.authorization import Principal, may_manage_job, may_see_model
from omlsvc.db.setup import utcnow
from omlsvc.db.uow import UnitOfWork
from omlsvc.errors import Conflict, InvalidInput, NotFound
from omlsvc.jobs import lifecycle
from omlsvc.jobs.lifecycle import CREATED, UPDATED
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.schedule import Schedule
from omlsvc.jobs.store import (
    MANUAL,
    PENDING,
    RUNNING,
    STOPPED,
    JobFilter,
    JobRecord,
    JobStore,
    RunRecord,
)
from omlsvc.jobs.tables import DataTables
from omlsvc.repository.store import ModelStore
from omlsvc.signature import ScoringSpec

ACTIONS = ("ENABLE", "DISABLE", "RUN", "STOP")


@dataclass(frozen=True)
class JobDetails:
    """A job with what its details show: parsed request, latest started run, run in progress."""

    job: JobRecord
    properties: ScoringJobProperties
    schedule: Schedule
    last_run: RunRecord | None
    active_run: RunRecord | None


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
    may_read_job_output: Callable[[str], bool],
) -> ResolvedInput:
    """Find the input, fit it to the model and check the output name; InvalidInput otherwise.

    ``may_read_job_output(job_id)`` says whether another job's output table may be this job's input.
    Used at creation and again by the runner before each run, since tables change.
    """
    tables = DataTables(connection)
    schema = tables.find_schema(properties.input_schema, "inputSchemaName")
    name = tables.find_table(schema, properties.input_data)
    if name is None:
        where = f" in schema {schema}" if schema else ""
        raise InvalidInput(f"inputData: there is no table or view {properties.input_data!r}{where}.")
    if tables.is_default_schema(schema) and tables.is_service_table(name):
        raise InvalidInput(f"inputData: {name} is one of omlsvc's own tables and cannot be scored.")
    if name.upper().startswith("OML$"):
        owner_job = name.upper()[:40]
        if not (lifecycle.JOB_ID.fullmatch(owner_job) and may_read_job_output(owner_job)):
            raise InvalidInput(f"inputData: {name} is the output of a job that is not yours.")
    table = tables.reflect(schema, name)
    plan = ScoringPlan.build(DataTables.shape(table), spec, properties)
    output_schema = (
        tables.find_schema(properties.output_schema, "outputSchemaName")
        if properties.output_schema
        else schema
    )
    output_name = lifecycle.output_table_name(job_id, properties.output_data)
    limit = tables.max_identifier_length
    if len(output_name.encode()) > limit:
        room = limit - len(job_id) - 1
        raise InvalidInput(
            f"outputData {properties.output_data!r} is too long: the output table {{jobId}}_{{outputData}} may have "
            f"{limit} characters on this database, which leaves {room} for outputData."
        )
    return ResolvedInput(schema, table, output_schema, plan)


class JobService:
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = lifecycle.new_job_id,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._new_id = new_id

    # -- create ----------------------------------------------------------------------------------

    def create(self, principal: Principal, body: Any) -> str:
        """Check and store a job; returns its id. Nothing is stored when anything is wrong."""
        if not isinstance(body, dict):
            raise InvalidInput("The request body must be an object with jobProperties (and jobSchedule).")
        unknown = sorted(set(body) - {"jobProperties", "jobSchedule"})
        if unknown:
            raise InvalidInput(f"Unknown field(s) {', '.join(unknown)}; send jobProperties and jobSchedule.")
        properties = ScoringJobProperties.parse(body.get("jobProperties"))
        schedule = Schedule.parse(body.get("jobSchedule"))
        job_id = self._new_id()
        now = self._clock()
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            model = ModelStore(uow.connection).get(properties.model_id)
            if model is None or not may_see_model(principal, model.access):
                raise InvalidInput(f"modelId: model {properties.model_id} does not exist.")
            spec = ScoringSpec.from_json(model.spec_json)
            resolve_tables(uow.connection, job_id, properties, spec, self._reader_of(store, principal))
            store.add(
                JobRecord(
                    id=job_id,
                    name=properties.job_name,
                    job_type="MODEL_SCORING",
                    owner=principal.name,
                    model_id=properties.model_id,
                    service_level=properties.service_level,
                    properties_json=properties.to_text(),
                    job_status=CREATED,
                    enabled=not properties.disable_job,
                    start_at=schedule.start,
                    end_at=schedule.end,
                    max_runs=schedule.max_runs,
                    repeat_interval=None if schedule.repeat is None else schedule.repeat.text,
                    next_run_at=schedule.next_run(now, now, 0),
                    run_count=0,
                    scheduled_runs=0,
                    submitted_at=now,
                    updated_at=now,
                )
            )
            uow.commit()
        return job_id

    @staticmethod
    def _reader_of(store: JobStore, principal: Principal) -> Callable[[str], bool]:
        def may_read(job_id: str) -> bool:
            job = store.get(job_id)
            return job is not None and may_manage_job(principal, job.owner)

        return may_read

    # -- read ------------------------------------------------------------------------------------

    def list_jobs(
        self, principal: Principal, where: JobFilter, offset: int = 0, limit: int | None = None
    ) -> tuple[list[JobDetails], bool]:
        """The caller's jobs (every job for an admin), oldest first, and whether more follow."""
        with UnitOfWork(self._engine) as uow:
            store = JobStore(uow.connection)
            owner = None if principal.is_admin else principal.name
            page = store.list_jobs(owner, where, offset, None if limit is None else limit + 1)
            details = [self._details(store, job) for job in page]
        if limit is not None and len(details) > limit:
            return details[:limit], True
        return details, False

    def get(self, principal: Principal, job_id: str) -> JobDetails:
        with UnitOfWork(self._engine) as uow:
            store = JobStore(uow.connection)
            return self._details(store, _owned(store.get(job_id), principal, job_id))

    def runs(self, principal: Principal, job_id: str, limit: int | None = None) -> list[RunRecord]:
        """The job's runs, most recent first (pending and running ones included)."""
        with UnitOfWork(self._engine) as uow:
            store = JobStore(uow.connection)
            _owned(store.get(job_id), principal, job_id)
            return store.runs(job_id, limit)

    @staticmethod
    def _details(store: JobStore, job: JobRecord) -> JobDetails:
        return JobDetails(
            job=job,
            properties=ScoringJobProperties.from_text(job.properties_json),
            schedule=lifecycle.schedule_of(job),
            last_run=store.last_started_run(job.id),
            active_run=store.active_run(job.id),
        )

    # -- change ----------------------------------------------------------------------------------

    def update(self, principal: Principal, job_id: str, body: Any) -> None:
        """Change the schedule (the only thing a scoring job lets change); absent fields stay."""
        if not isinstance(body, dict) or "jobSchedule" not in body:
            raise InvalidInput('Send {"jobSchedule": {...}}: only the schedule of a scoring job can change.')
        unknown = sorted(set(body) - {"jobSchedule"})
        if unknown:
            raise InvalidInput(
                f"Only jobSchedule can change on a MODEL_SCORING job; {', '.join(unknown)} cannot."
            )
        now = self._clock()
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            job = _owned(store.get(job_id, for_update=True), principal, job_id)
            schedule = lifecycle.schedule_of(job).updated(body["jobSchedule"])
            store.update(
                job_id,
                start_at=schedule.start,
                end_at=schedule.end,
                max_runs=schedule.max_runs,
                repeat_interval=None if schedule.repeat is None else schedule.repeat.text,
                next_run_at=schedule.next_run(job.submitted_at, now, job.scheduled_runs),
                job_status=UPDATED,
                updated_at=now,
            )
            uow.commit()

    def delete(self, principal: Principal, job_id: str, *, drop_output: bool = False) -> None:
        """Delete a job and its run history; its output table stays unless ``drop_output``."""
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            job = _owned(store.get(job_id, for_update=True), principal, job_id)
            active = store.active_run(job_id)
            if active is not None and active.status == RUNNING:
                raise Conflict(f"Job {job_id} is running; STOP it before deleting it.")
            if drop_output:
                properties = ScoringJobProperties.from_text(job.properties_json)
                tables = DataTables(uow.connection)
                schema_name = properties.output_schema or properties.input_schema
                try:
                    schema = tables.find_schema(schema_name, "outputSchemaName")
                except InvalidInput:
                    schema = None
                tables.drop(schema, lifecycle.output_table_name(job_id, properties.output_data))
            store.delete(job_id)
            uow.commit()

    def act(self, principal: Principal, job_id: str, action: object, force: object = False) -> None:
        """ENABLE, DISABLE (``force``: even while a run is in progress), RUN now, or STOP the run."""
        if not isinstance(action, str) or action.upper() not in ACTIONS:
            raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}.")
        action = action.upper()
        forced = _flag(force, "force")
        now = self._clock()
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            job = _owned(store.get(job_id, for_update=True), principal, job_id)
            active = store.active_run(job_id)
            if action == "ENABLE":
                if not job.enabled:
                    schedule = lifecycle.schedule_of(job)
                    store.update(
                        job_id,
                        enabled=True,
                        run_count=0,
                        scheduled_runs=0,
                        next_run_at=schedule.next_run(job.submitted_at, now, 0),
                        updated_at=now,
                    )
            elif action == "DISABLE":
                if job.enabled:
                    if active is not None and not forced:
                        raise Conflict(
                            f"Job {job_id} has a run in progress; DISABLE with force=true to let it finish."
                        )
                    store.update(job_id, enabled=False, updated_at=now)
            elif action == "RUN":
                if active is not None:
                    raise Conflict(f"Job {job_id} already has a run in progress.")
                schedule = lifecycle.schedule_of(job)
                if schedule.max_runs is not None and job.scheduled_runs >= schedule.max_runs:
                    raise Conflict(f"Job {job_id} has reached maxRuns ({schedule.max_runs}).")
                if schedule.ended(now):
                    raise Conflict(f"Job {job_id} ended at its jobEndDate.")
                store.add_run(lifecycle.pending_run(job_id, MANUAL, now))
            else:  # STOP
                # lock the run and read it again: a runner may be starting it at this very moment
                run = None if active is None else store.get_run(active.id, for_update=True)
                if run is None or run.status not in (PENDING, RUNNING):
                    raise Conflict(f"Job {job_id} has no run in progress.")
                store.update_run(run.id, stop_requested=True)
                if run.status == PENDING:
                    lifecycle.end_run(store, run, STOPPED, now)
            uow.commit()

    def check(self, principal: Principal, job_id: str) -> None:
        """The job exists for the caller (creation and updates are synchronous, so it is done)."""
        self.get(principal, job_id)


def _owned(job: JobRecord | None, principal: Principal, job_id: str) -> JobRecord:
    if job is None or not may_manage_job(principal, job.owner):
        raise NotFound(f"Job {job_id} does not exist.")
    return job


def _flag(value: object, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidInput(f"{name} must be true or false.")
