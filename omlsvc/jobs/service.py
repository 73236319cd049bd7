"""Use cases of batch scoring jobs (spec ``oml-jobs.md`` sections 3-10).

Ownership follows models, one step stricter: a job belongs to its creator, who alone (with the
``admin`` role) sees and manages it; another user's job does not exist for them (404). Its model
must be visible to the creator (their own, shared, or granted to them by name) when the job is created
and when it runs.

Everything the job will read is checked at creation, so a mistake is a 400 naming the problem
rather than a failed run later: the input table or view exists and the creator's database identity
may read it (:mod:`omlsvc.jobs.access`; one it may not read answers exactly like one that does not
exist), its columns fit the model (:mod:`omlsvc.jobs.plan`), the output name fits the database's
identifier limit. Tables of omlsvc itself are never job input.

Jobs are created and updated synchronously: ``jobStatus`` is CREATED or UPDATED, and ``/check``
always answers "done".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from omlsvc.core.authorization import (
    Principal,
    job_owner_scope,
    may_see_model,
    require_principal,
)
from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Conflict, InvalidInput
from omlsvc.db.transactions import Transactions
from omlsvc.jobs import lifecycle
from omlsvc.jobs.access import JobOwnerOf, identity_of
from omlsvc.jobs.actions import act
from omlsvc.jobs.directory import JobOwners, ModelRecords
from omlsvc.jobs.lifecycle import UPDATED
from omlsvc.jobs.monitoring.properties import (
    MONITORING_TYPES,
    Limits,
    ModelMonitoringProperties,
    MonitoringProperties,
    monitoring_from_text,
    parse_monitoring,
    to_text,
    updated,
)
from omlsvc.jobs.monitoring.runs import MonitorRuns, is_monitoring
from omlsvc.jobs.properties import ScoringJobProperties, job_spec
from omlsvc.jobs.records import JobFilter, JobRecord, RunRecord
from omlsvc.jobs.resolve import drop_output_table, resolve_tables
from omlsvc.jobs.schedule import Schedule
from omlsvc.jobs.states import RUNNING
from omlsvc.jobs.store import JobStore

#: Creating a job and asking for a run are logged with the ids, so the request that did it (its
#: ``request_id`` on the same line) can be found from a run the runner works on later.
log = logging.getLogger("omlsvc.jobs")


@dataclass(frozen=True)
class JobDetails:
    """A job with what its details show: parsed request, latest started run, run in progress."""

    job: JobRecord
    properties: ScoringJobProperties | MonitoringProperties
    schedule: Schedule
    last_run: RunRecord | None
    active_run: RunRecord | None


class JobService:
    def __init__(
        self,
        transactions: Transactions,
        owners: JobOwners,
        models: ModelRecords,
        *,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = lifecycle.new_job_id,
        monitor_limits: Limits | None = None,
    ) -> None:
        """``owners`` and ``models`` are the auth and repository services: what jobs need to know of
        users and models, asked through them and never through their stores."""
        self._transactions = transactions
        self._owners = owners
        self._models = models
        self._clock = clock
        self._new_id = new_id
        #: checks monitoring jobs' models and tables (it computes nothing here: no scoring service).
        self._monitor = MonitorRuns(transactions, None, owners, models, monitor_limits or Limits())

    @property
    def _backend(self) -> str:
        return self._transactions.engine.dialect.name

    # -- create ----------------------------------------------------------------------------------

    def create(self, principal: Principal, body: Any) -> str:
        """Check and store a job; returns its id. Nothing is stored when anything is wrong."""
        require_principal(principal)
        if not isinstance(body, dict):
            raise InvalidInput("The request body must be an object with jobProperties (and jobSchedule).")
        unknown = sorted(set(body) - {"jobProperties", "jobSchedule"})
        if unknown:
            raise InvalidInput(f"Unknown field(s) {', '.join(unknown)}; send jobProperties and jobSchedule.")
        raw = body.get("jobProperties")
        if isinstance(raw, dict) and raw.get("jobType") in MONITORING_TYPES:
            return self._create_monitoring(principal, parse_monitoring(raw, self._monitor.limits), body)
        properties = ScoringJobProperties.parse(raw)
        schedule = Schedule.parse(body.get("jobSchedule"))
        job_id = self._new_id()
        now = self._clock()
        model = self._models.record(properties.model_id)
        if model is None or not may_see_model(principal, model.access):
            raise InvalidInput(f"modelId: model {properties.model_id} does not exist.")
        spec = job_spec(model.spec_json, properties)
        identity = identity_of(self._owners, principal.name, self._backend)
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            resolve_tables(uow.connection, job_id, properties, spec, identity, _owner_lookup(store))
            store.add(
                lifecycle.new_job(
                    job_id,
                    principal.name,
                    name=properties.job_name,
                    job_type="MODEL_SCORING",
                    model_id=properties.model_id,
                    service_level=properties.service_level,
                    properties_json=properties.to_text(),
                    enabled=not properties.disable_job,
                    schedule=schedule,
                    now=now,
                )
            )
            uow.commit()
        log.info("job %s created", job_id, extra={"job_id": job_id})
        return job_id

    def _create_monitoring(
        self, principal: Principal, properties: MonitoringProperties, body: dict[str, Any]
    ) -> str:
        """A DATA_MONITORING, MODEL_MONITORING or DATA_BIAS job: its models and tables checked as its
        owner may see them (spec ``oml-monitoring.md`` section 10), then stored like a scoring job."""
        schedule = Schedule.parse(body.get("jobSchedule"))
        job_id = self._new_id()
        now = self._clock()
        identity = identity_of(self._owners, principal.name, self._backend)
        checked = None
        if isinstance(properties, ModelMonitoringProperties):
            checked = self._monitor.check_models(identity, properties, InvalidInput)
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            self._monitor.check_sources(
                uow.connection, job_id, properties, identity, _owner_lookup(store), checked
            )
            store.add(
                lifecycle.new_job(
                    job_id,
                    principal.name,
                    name=properties.common.job_name,
                    job_type=properties.job_type,
                    model_id=properties.model_id,
                    service_level=properties.common.service_level,
                    properties_json=to_text(properties),
                    enabled=not properties.common.disable_job,
                    schedule=schedule,
                    now=now,
                )
            )
            uow.commit()
        log.info("job %s created", job_id, extra={"job_id": job_id})
        return job_id

    # -- read ------------------------------------------------------------------------------------

    def list_jobs(
        self, principal: Principal, where: JobFilter, offset: int = 0, limit: int | None = None
    ) -> tuple[list[JobDetails], bool]:
        """The caller's jobs (every job for an admin), oldest first, and whether more follow."""
        require_principal(principal)
        with self._transactions() as uow:
            store = JobStore(uow.connection)
            page = store.list_jobs(
                job_owner_scope(principal), where, offset, None if limit is None else limit + 1
            )
            details = [self._details(store, job) for job in page]
        if limit is not None and len(details) > limit:
            return details[:limit], True
        return details, False

    def get(self, principal: Principal, job_id: str) -> JobDetails:
        require_principal(principal)
        with self._transactions() as uow:
            store = JobStore(uow.connection)
            return self._details(store, lifecycle.owned_job(store.get(job_id), principal, job_id))

    def runs(self, principal: Principal, job_id: str, limit: int | None = None) -> list[RunRecord]:
        """The job's runs, most recent first (pending and running ones included)."""
        require_principal(principal)
        with self._transactions() as uow:
            store = JobStore(uow.connection)
            lifecycle.owned_job(store.get(job_id), principal, job_id)
            return store.runs(job_id, limit)

    def _details(self, store: JobStore, job: JobRecord) -> JobDetails:
        properties = properties_of(job)
        if isinstance(properties, ModelMonitoringProperties) and not job.model_deleted:
            # the jobs table records the first model; the flag covers every model of modelList
            gone = any(self._models.record(model_id) is None for model_id in properties.model_list[1:])
            job = replace(job, model_deleted=gone)
        return JobDetails(
            job=job,
            properties=properties,
            schedule=lifecycle.schedule_of(job),
            last_run=store.last_started_run(job.id),
            active_run=store.active_run(job.id),
        )

    # -- change ----------------------------------------------------------------------------------

    def update(self, principal: Principal, job_id: str, body: Any) -> None:
        """Change the schedule (the only thing a scoring job lets change); absent fields stay.
        A monitoring job also takes ``updateProperties`` (spec ``oml-monitoring.md`` section 7)."""
        require_principal(principal)
        if isinstance(body, dict) and "updateProperties" in body:
            self._update_monitoring(principal, job_id, body)
            return
        if not isinstance(body, dict) or "jobSchedule" not in body:
            raise InvalidInput('Send {"jobSchedule": {...}}: only the schedule of a scoring job can change.')
        unknown = sorted(set(body) - {"jobSchedule"})
        if unknown:
            raise InvalidInput(
                f"Only jobSchedule can change on a MODEL_SCORING job; {', '.join(unknown)} cannot."
            )
        now = self._clock()
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            job = lifecycle.owned_job(store.get(job_id, for_update=True), principal, job_id)
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

    def _update_monitoring(self, principal: Principal, job_id: str, body: dict[str, Any]) -> None:
        """``updateProperties`` (only the fields the job's type lets change, checked as at creation)
        and ``jobSchedule`` if sent, applied together or not at all."""
        unknown = sorted(set(body) - {"jobSchedule", "updateProperties"})
        if unknown:
            raise InvalidInput(
                f"Send updateProperties and/or jobSchedule; {', '.join(unknown)} cannot change."
            )
        now = self._clock()
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            job = lifecycle.owned_job(store.get(job_id, for_update=True), principal, job_id)
            if not is_monitoring(job.job_type):
                raise InvalidInput(
                    f"updateProperties applies to monitoring jobs; only jobSchedule can change on a {job.job_type} job."
                )
            properties = updated(
                monitoring_from_text(job.properties_json), body["updateProperties"], self._monitor.limits
            )
            if isinstance(properties, ModelMonitoringProperties):
                identity = identity_of(self._owners, job.owner, self._backend)
                checked = self._monitor.check_models(identity, properties, InvalidInput)
                self._monitor.check_sources(
                    uow.connection, job_id, properties, identity, _owner_lookup(store), checked
                )
            elif properties.job_type == "DATA_MONITORING":
                identity = identity_of(self._owners, job.owner, self._backend)
                self._monitor.check_sources(
                    uow.connection, job_id, properties, identity, _owner_lookup(store)
                )
            changes: dict[str, Any] = {
                "properties": to_text(properties),
                "model_id": properties.model_id,
                "job_status": UPDATED,
                "updated_at": now,
            }
            if "jobSchedule" in body:
                schedule = lifecycle.schedule_of(job).updated(body["jobSchedule"])
                changes |= {
                    "start_at": schedule.start,
                    "end_at": schedule.end,
                    "max_runs": schedule.max_runs,
                    "repeat_interval": None if schedule.repeat is None else schedule.repeat.text,
                    "next_run_at": schedule.next_run(job.submitted_at, now, job.scheduled_runs),
                }
            store.update(job_id, **changes)
            uow.commit()

    def delete(self, principal: Principal, job_id: str, *, drop_output: bool = False) -> None:
        """Delete a job and its run history; its output table stays unless ``drop_output``."""
        require_principal(principal)
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            job = lifecycle.owned_job(store.get(job_id, for_update=True), principal, job_id)
            active = store.active_run(job_id)
            if active is not None and active.status == RUNNING:
                raise Conflict(f"Job {job_id} is running; STOP it before deleting it.")
            if drop_output:
                # as the job's owner: their role owns the table (an admin deleting it acts for them)
                properties = properties_of(job)
                drop_output_table(
                    uow.connection,
                    identity_of(self._owners, job.owner, self._backend),
                    properties,
                    lifecycle.output_table_name(job_id, properties.output_data),
                )
            store.delete(job_id)
            uow.commit()

    def act(self, principal: Principal, job_id: str, action: object, force: object = False) -> None:
        """ENABLE, DISABLE (``force``: even while a run is in progress), RUN now, or STOP the run."""
        require_principal(principal)
        act(self._transactions, self._clock, principal, job_id, action, force)

    def check(self, principal: Principal, job_id: str) -> None:
        """The job exists for the caller (creation and updates are synchronous, so it is done)."""
        require_principal(principal)
        self.get(principal, job_id)


def properties_of(job: JobRecord) -> ScoringJobProperties | MonitoringProperties:
    """A stored job's parsed ``jobProperties``, of its type."""
    if is_monitoring(job.job_type):
        return monitoring_from_text(job.properties_json)
    return ScoringJobProperties.from_text(job.properties_json)


def _owner_lookup(store: JobStore) -> JobOwnerOf:
    def owner_of(job_id: str) -> str | None:
        job = store.get(job_id)
        return None if job is None else job.owner

    return owner_of
