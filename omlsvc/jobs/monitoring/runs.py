"""How a runner carries out a monitoring run: read baseline and new data as the job's owner, compute
every row of the run (no transaction open meanwhile), then write them all in ONE transaction with
the run's checkpoint, so a killed or superseded runner leaves no row behind.

The run is leased whole, as one chunk of :mod:`omlsvc.jobs.runs` (key range :data:`WHOLE_RUN`): the
lease, its renewal, its take-over when a runner dies and the run's end go through the same code as
batch scoring.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, delete

from omlsvc.core.clock import utcnow
from omlsvc.core.errors import InvalidInput, OmlError
from omlsvc.db.transactions import Transactions
from omlsvc.jobs import lifecycle
from omlsvc.jobs.access import JobIdentity, JobOwnerOf, UserTables, identity_of, user_tables
from omlsvc.jobs.directory import JobOwners, ModelRecords
from omlsvc.jobs.monitoring import checks, data, model, output, rows
from omlsvc.jobs.monitoring.periods import Period
from omlsvc.jobs.monitoring.properties import (
    MONITORING_TYPES,
    DataBiasProperties,
    DataMonitoringProperties,
    Limits,
    ModelMonitoringProperties,
    MonitoringProperties,
    monitoring_from_text,
)
from omlsvc.jobs.monitoring.rows import MonitoringFailed
from omlsvc.jobs.monitoring.sources import read_columns
from omlsvc.jobs.records import JobRecord
from omlsvc.jobs.shapes import OutputBatch
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.service import ScoringService

#: The key range of a monitoring run's one chunk (never decoded: the run is computed whole).
WHOLE_RUN = '["m", "whole run"]'

__all__ = ["WHOLE_RUN", "Computed", "MonitorRuns", "MonitoringFailed", "is_monitoring"]


@dataclass(frozen=True)
class Computed:
    """A run's result: the output table, its rows, and what is replaced first."""

    identity: JobIdentity
    table: Table
    rows: list[dict[str, Any]]
    #: ``recompute=true``: the periods whose rows (and the baseline's) go first; None: append only.
    replaced: list[Period | None] | None
    #: DATA_BIAS with ``replaceResultTable``: every row goes first.
    replace_all: bool = False


def is_monitoring(job_type: str) -> bool:
    return job_type in MONITORING_TYPES


class MonitorRuns:
    """Checks monitoring jobs' models and tables, and computes and writes their runs."""

    def __init__(
        self,
        transactions: Transactions,
        scoring: ScoringService | None,
        owners: JobOwners,
        models: ModelRecords,
        limits: Limits = Limits(),
    ) -> None:
        """``scoring`` may be None where nothing is computed (the job service only checks)."""
        self._transactions = transactions
        self._scoring = scoring
        self._owners = owners
        self._models = models
        self.limits = limits

    @property
    def _dialect(self) -> str:
        return self._transactions.engine.dialect.name

    def identity(self, owner: str) -> JobIdentity:
        return identity_of(self._owners, owner, self._dialect)

    def check_models(
        self, identity: JobIdentity, properties: ModelMonitoringProperties, error: type[OmlError]
    ) -> checks.Checked:
        return checks.check_models(self._models, identity, properties, error)

    def check_sources(
        self,
        connection: Connection,
        job_id: str,
        properties: MonitoringProperties,
        identity: JobIdentity,
        owner_of: JobOwnerOf,
        checked: checks.Checked | None = None,
    ) -> None:
        """Everything the job reads exists, may be read by the owner and fits (in the caller's
        transaction; a 400 at creation)."""
        with user_tables(connection, identity, owner_of) as user:
            checks.check_sources(user, job_id, properties, self.limits, checked)

    # -- a run -----------------------------------------------------------------------------------

    def compute(self, job: JobRecord, owner_of: JobOwnerOf) -> Computed:
        """Every row of the job's next run, computed from its tables as they are now."""
        properties = monitoring_from_text(job.properties_json)
        identity = self.identity(job.owner)
        checked, prepared = self._prepare_models(identity, properties)
        name = lifecycle.output_table_name(job.id, properties.common.output_data)
        with self._transactions() as uow, user_tables(uow.connection, identity, owner_of) as user:
            try:
                schema = user.output_schema(properties.common.output_schema)
                if isinstance(properties, DataBiasProperties):
                    found = checks.find_bias_source(user, properties)
                    columns = list(dict.fromkeys([*found.sensitive, *found.strata, found.outcome]))
                    values = read_columns(user, found.source, columns)
                    table = output.output_table(schema, name, output.DATA_BIAS_COLUMNS, self._dialect)
                    bias_rows = rows.bias_rows(properties, found, values)
                    return Computed(identity, table, bias_rows, None, properties.replace_result_table)
                sources = checks.find_sources(user, properties, self.limits, checked)
                base, new = _read(user, sources)
            except InvalidInput as exc:
                raise MonitoringFailed(exc.message) from exc
            columns_of = (
                output.DATA_MONITORING_COLUMNS
                if isinstance(properties, DataMonitoringProperties)
                else output.MODEL_MONITORING_COLUMNS
            )
            table = output.output_table(schema, name, columns_of, self._dialect)
            has_baseline, done = (
                output.existing_state(uow.connection, table)
                if user.tables.exists(table.schema, table.name)
                else (False, set())
            )
        _require_baseline_rows(properties, base)
        recompute = properties.periods.recompute
        periods, period_of_row = rows.periods_of(properties.periods, sources.time, new)
        scope = rows.RunScope(
            periods,
            period_of_row,
            threshold=properties.periods.threshold_in_force,
            # recompute=false: only periods not in the table yet (spec section 6)
            wanted={
                k for k, p in enumerate(periods) if recompute or p is None or (p.start, p.end) not in done
            },
            with_baseline=recompute or not has_baseline,
        )
        # scikit-learn warns of ill-defined metrics (a class a period lacks): the JSON says it with nulls
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = self._rows(properties, checked, prepared, sources, base, new, scope)
            except (ValueError, TypeError, ArithmeticError) as exc:
                # the library's message may quote a value read from the table: its type only
                raise MonitoringFailed(
                    f"The statistics could not be computed from these values ({type(exc).__name__})."
                ) from exc
        return Computed(identity, table, result, periods if recompute else None)

    def _prepare_models(
        self, identity: JobIdentity, properties: MonitoringProperties
    ) -> tuple[checks.Checked | None, dict[str, PreparedModel]]:
        """A MODEL_MONITORING job's models, checked and each prepared to score; nothing for the others."""
        if not isinstance(properties, ModelMonitoringProperties):
            return None, {}
        checked = self.check_models(identity, properties, MonitoringFailed)
        assert self._scoring is not None
        prepared: dict[str, PreparedModel] = {}
        for model_id, _ in checked.specs:
            record = self._models.record(model_id)
            if record is None:
                raise MonitoringFailed(f"modelList: model {model_id} does not exist.")
            prepared[model_id] = self._scoring.prepared_for_model(record)
        return checked, prepared

    @staticmethod
    def _rows(
        properties: DataMonitoringProperties | ModelMonitoringProperties,
        checked: checks.Checked | None,
        prepared: dict[str, PreparedModel],
        sources: checks.Sources,
        base: rows.Values,
        new: rows.Values,
        scope: rows.RunScope,
    ) -> list[dict[str, Any]]:
        if isinstance(properties, DataMonitoringProperties):
            return rows.data_rows(sources, base, new, scope)
        assert checked is not None
        result: list[dict[str, Any]] = []
        for model_id, spec in checked.specs:
            result += rows.model_rows(
                model_id, spec, prepared[model_id], sources, properties, base, new, scope
            )
        return result

    def write(self, connection: Connection, computed: Computed) -> None:
        """Create the output table if need be and write the run's rows, in the caller's transaction."""
        dialect = self._dialect
        now = output.time_value(utcnow(), dialect)
        with user_tables(connection, computed.identity) as user:
            user.tables.create(computed.table)
            user.guard_output(computed.table)
            if computed.replace_all:
                connection.execute(delete(computed.table))
            elif computed.replaced is not None:
                output.delete_recomputed(connection, computed.table, computed.replaced, dialect)
            written = []
            for row in computed.rows:
                values = {**row, "CREATION_TIME": now}
                for column in ("START_TIME", "END_TIME"):
                    if column in values:
                        values[column] = output.time_value(values[column], dialect)
                written.append(values)
            names = tuple(column.name for column in computed.table.columns)
            columns = tuple([row.get(name) for row in written] for name in names)
            user.tables.insert(computed.table, OutputBatch(names, columns, len(written)))


def _require_baseline_rows(
    properties: DataMonitoringProperties | ModelMonitoringProperties, base: rows.Values
) -> None:
    """The baseline has the rows its analysis needs (spec 3), else the run fails saying so."""
    needed = data.MIN_ROWS if isinstance(properties, DataMonitoringProperties) else model.MIN_ROWS
    if len(next(iter(base.values()), [])) < needed:
        raise MonitoringFailed(
            f"baselineData has fewer than {needed} rows; the analysis needs at least {needed}."
        )


def _read(user: UserTables, sources: checks.Sources) -> tuple[rows.Values, rows.Values]:
    """The baseline's and the new data's columns the run needs, each in case id (else key) order."""
    base_names: list[str] = []
    new_names: list[str] = []
    for feature in sources.features:
        base_names.append(feature.names[0])
        new_names.append(feature.names[1])
    if sources.feeds:
        columns = dict.fromkeys(c for feeds in sources.feeds.values() for feed in feeds for c in feed.columns)
        base_names += columns
        new_names += [sources.new.column(c, "newData").name for c in columns]
    for pair in (sources.anchor, sources.target):
        if pair is not None:
            base_names.append(pair[0])
            new_names.append(pair[1])
    if sources.time is not None:
        new_names.append(sources.time)
    base_order, new_order = sources.caseid or (None, None)
    base = read_columns(
        user, sources.base, list(dict.fromkeys(base_names)), [base_order] if base_order else ()
    )
    new = read_columns(user, sources.new, list(dict.fromkeys(new_names)), [new_order] if new_order else ())
    return base, new
