"""What a runner knows of each run it works on: the job, its owner's identity, the plan that fits the
input to the model, the prepared model and the tables it reads and writes. Built once per run (the
model's record and the owner asked of their services, the tables found again as the owner may read
them), then reused for every chunk of the run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError

from omlsvc.core.authorization import may_see_model
from omlsvc.core.errors import InvalidInput, OmlError
from omlsvc.core.signature import ScoringSpec
from omlsvc.db.transactions import Transactions
from omlsvc.jobs import lifecycle
from omlsvc.jobs.access import JobIdentity, identity_of
from omlsvc.jobs.directory import JobOwners, ModelRecords
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.properties import ScoringJobProperties, job_spec
from omlsvc.jobs.records import JobRecord
from omlsvc.jobs.resolve import ResolvedInput, resolve_tables
from omlsvc.jobs.shapes import OutputBatch
from omlsvc.jobs.store import JobStore
from omlsvc.jobs.tables import DataTables
from omlsvc.scoring.outputs import RankedColumns
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.service import ScoringService

#: Runs whose context a runner keeps at once (least recently used dropped first).
MAX_CONTEXTS = 8


class RunFailed(OmlError):
    """The run cannot go on (its model or input is gone or no longer fits); ends it FAILED."""

    code = "RUN_FAILED"


@dataclass
class RunContext:
    """What a runner keeps per run it works on: built once, reused for every chunk."""

    job: JobRecord
    identity: JobIdentity
    properties: ScoringJobProperties
    plan: ScoringPlan
    model: PreparedModel
    input_table: Table
    output: Table
    #: where the rows go: the output table, or a ``recompute`` run's staging table.
    target: Table
    #: the target table exists.
    ready: bool = False

    def score(self, rows: Sequence[Sequence[Any]]) -> OutputBatch:
        """The output rows of ``rows`` (in key order), column by column, scored by the run's prepared
        model; a failure is :class:`RunFailed` naming the rows' keys and the column, never a value."""
        plan, model = self.plan, self.model
        if not rows:
            return OutputBatch(tuple(c.name for c in plan.outputs), tuple([] for _ in plan.outputs), 0)
        try:
            if plan.image_column is not None:
                images = plan.images(rows)
                step = model.inputs.limits.max_images
                ranked = RankedColumns.concat(
                    [
                        model.rank_images(images[start : start + step], plan.top_n)
                        for start in range(0, len(images), step)
                    ]
                )
            else:
                ranked = model.rank_records(plan.records(rows), plan.top_n)
            return plan.output_batch(rows, ranked)
        except OmlError as exc:
            # the scorer's own message may quote a value: name the column and the row's key instead
            raise RunFailed(
                f"Scoring the rows with {plan.key} from {rows[0][0]!r} to {rows[-1][0]!r} failed: "
                f"{plan.explain_failure(exc, rows)}"
            ) from exc


class RunContexts:
    """A runner's contexts, by run id: at most :data:`MAX_CONTEXTS`, least recently used dropped.
    Safe to share between the runner's thread and the one claiming its next chunk meanwhile: a
    context is built once however many ask for it at the same moment."""

    def __init__(
        self, transactions: Transactions, scoring: ScoringService, owners: JobOwners, models: ModelRecords
    ) -> None:
        self._transactions = transactions
        self._scoring = scoring
        self._owners = owners
        self._models = models
        self._contexts: OrderedDict[str, RunContext] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, run_id: str) -> RunContext | None:
        """The context if it is built already (nothing is read)."""
        return self._contexts.get(run_id)

    def get(self, run_id: str) -> RunContext:
        """The run's context, built if need be; :class:`RunFailed` when the run can no longer go on."""
        with self._lock:
            cached = self._contexts.get(run_id)
            if cached is not None:
                self._contexts.move_to_end(run_id)
                return cached
            context = self._build(run_id)
            self._contexts[run_id] = context
            while len(self._contexts) > MAX_CONTEXTS:
                self._contexts.popitem(last=False)
            return context

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._contexts.pop(run_id, None)

    def identity(self, owner: str) -> JobIdentity:
        """The database identity a job of ``owner`` acts as."""
        return identity_of(self._owners, owner, self._transactions.engine.dialect.name)

    def _build(self, run_id: str) -> RunContext:
        with self._transactions() as uow:
            store = JobStore(uow.connection)
            run = store.get_run(run_id)
            job = None if run is None else store.get(run.job_id)
        if job is None:
            raise RunFailed(f"Run {run_id} or its job no longer exists.")
        properties = ScoringJobProperties.from_text(job.properties_json)
        model = self._models.record(job.model_id)
        if model is None:
            raise RunFailed(f"The model {job.model_id} was deleted.")
        identity = self.identity(job.owner)
        if not may_see_model(identity.principal, model.access):
            raise RunFailed(f"The model {job.model_id} is no longer visible to the job's owner {job.owner}.")
        if properties.output_tensor is not None:
            problems = self._scoring.graph_tensors(model).check([properties.output_tensor], "outputTensor")
            if problems:
                raise RunFailed(" ".join(problems))
        resolved = self._resolve(job, properties, job_spec(model.spec_json, properties), identity)
        output_name = lifecycle.output_table_name(job.id, properties.output_data)
        output = DataTables.output_table(
            resolved.output_schema, output_name, resolved.plan, resolved.input_table
        )
        target = output
        if properties.recompute:
            staging = lifecycle.staging_table_name(run_id)
            target = DataTables.output_table(
                resolved.output_schema, staging, resolved.plan, resolved.input_table
            )
        prepared = self._scoring.prepared_for_model(model, cut=properties.output_tensor)
        return RunContext(
            job, identity, properties, resolved.plan, prepared, resolved.input_table, output, target
        )

    def _resolve(
        self, job: JobRecord, properties: ScoringJobProperties, spec: ScoringSpec, identity: JobIdentity
    ) -> ResolvedInput:
        """The job's tables found again as its owner may read them now (tables and grants change)."""
        with self._transactions() as uow:
            store = JobStore(uow.connection)

            def owner_of(other: str) -> str | None:
                other_job = store.get(other)
                return None if other_job is None else other_job.owner

            try:
                return resolve_tables(uow.connection, job.id, properties, spec, identity, owner_of)
            except InvalidInput as exc:
                raise RunFailed(exc.message) from exc


def reason(exc: BaseException) -> str:
    """Why a run failed, for its record: our own messages (which never quote a row value), or for a
    database error only its code, since drivers' messages may quote the value they refused."""
    if isinstance(exc, OmlError):
        return exc.message
    original = exc.orig if isinstance(exc, DBAPIError) else None
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    name = type(original or exc).__name__
    return f"the database refused the statement ({name}{f', {code}' if code else ''})"
