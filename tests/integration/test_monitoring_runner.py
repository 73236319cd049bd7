"""Monitoring runs on real databases: all rows of a run are written in one transaction, so a runner
killed while computing or writing leaves no row, and a runner that lost its lease writes nothing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Column, DateTime, Float, Integer, String, inspect

from omlsvc.jobs.runner import Claim, Runner
from omlsvc.wiring import Services
from tests.integration.test_job_runner import (
    ALICE,
    CHUNKS_HELD,
    last_run,
    runner,
    stop_while_holding,
    worker_process,
)
from tests.jobdata import InputTables, count_rows


def drifting(tables: InputTables, rows: int) -> tuple[str, str]:
    """Baseline and new data of ``rows`` rows each; X drifts, Y does not; new data spans 4 days."""
    rng = np.random.default_rng(1)
    start = datetime(2025, 1, 1)

    def columns(time: bool) -> list[Column[Any]]:
        made = [
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("x", Float),
            Column("y", Float),
            Column("c", String(4)),
        ]
        return [*made, Column("t", DateTime)] if time else made

    letters = np.asarray(["a", "b"], dtype=object)
    base = tables.table(
        "mon_base",
        columns(False),
        [np.arange(rows), rng.normal(0, 1, rows), rng.normal(0, 1, rows), letters[rng.integers(0, 2, rows)]],
    )
    new = tables.table(
        "mon_new",
        columns(True),
        [
            np.arange(rows),
            rng.normal(2, 1, rows),
            rng.normal(0, 1, rows),
            letters[rng.integers(0, 2, rows)],
            [start + timedelta(seconds=int(s)) for s in np.linspace(0, 4 * 86400 - 1, rows)],
        ],
    )
    return base, new


def submit(services: Services, base: str, new: str, **extra: Any) -> str:
    return services.jobs.create(
        ALICE,
        {
            "jobProperties": {
                "jobName": "drift",
                "jobType": "DATA_MONITORING",
                "outputData": "OUT",
                "baselineData": base,
                "newData": new,
                "timeColumn": "T",
                "frequency": "day",
                "caseidColumn": "ID",
                "disableJob": True,
                **extra,
            }
        },
    )


def claim_whole(worker: Runner) -> Claim:
    claim, _ = worker.claim_next()
    assert claim is not None
    return claim


def test_a_runner_that_lost_its_monitoring_run_writes_nothing(both: tuple[Services, InputTables]) -> None:
    services, tables = both
    base, new = drifting(tables, 400)
    job_id = submit(services, base, new)
    services.jobs.act(ALICE, job_id, "RUN")
    slow = runner(services, lease_s=0.05)
    claim = claim_whole(slow)
    time.sleep(0.1)
    rescuer = runner(services, lease_s=30)
    taken = rescuer.take_over_expired()
    assert taken is not None and (taken.run_id, taken.seq) == (claim.run_id, claim.seq)
    rescuer.process(taken)
    slow.process(claim)  # too late: the rescuer wrote the run
    assert slow.stats.lost_leases == 1 and slow.stats.rows == 0
    rescuer.run_until_idle()
    run = last_run(services, job_id)
    assert (run.status, run.rows_done) == ("SUCCEEDED", 3 + 3 * 4)
    assert count_rows(services.engine, f"{job_id}_OUT") == 3 + 3 * 4  # baseline + 4 days, 3 features


@pytest.mark.slow
def test_a_killed_monitoring_run_leaves_no_rows_and_is_redone_whole(
    pg: tuple[Services, InputTables],
    tmp_path: Path,
    postgres_schema_url: str,
) -> None:
    services, tables = pg
    base, new = drifting(tables, 2_000)
    job_id = submit(services, base, new)
    services.jobs.act(ALICE, job_id, "RUN")
    with worker_process(tmp_path, postgres_schema_url) as (worker, log):
        # caught while it holds the monitoring run: its rows commit with the chunk row's deletion
        caught = stop_while_holding(services.engine, worker, log, seen=CHUNKS_HELD, timeout_s=60)
    assert caught, "the worker never held the run"
    table = f"{job_id}_OUT"
    with services.engine.connect() as connection:
        exists = inspect(connection).has_table(table)
    assert not exists or count_rows(services.engine, table) == 0  # nothing of the killed run
    rescuer = runner(services, lease_s=2)
    rescuer.run_until_idle(timeout_s=120)
    run = last_run(services, job_id)
    assert run.status == "SUCCEEDED", run.error_message
    assert count_rows(services.engine, table) == 3 + 3 * 4


def test_stop_while_a_monitoring_run_computes_ends_it_with_no_rows(
    both: tuple[Services, InputTables],
) -> None:
    services, tables = both
    base, new = drifting(tables, 400)
    job_id = submit(services, base, new)
    services.jobs.act(ALICE, job_id, "RUN")
    worker = runner(services, lease_s=30)
    claim = claim_whole(worker)
    services.jobs.act(ALICE, job_id, "STOP")
    worker.process(claim)  # computed, but the run was asked to stop: nothing is written
    worker.run_until_idle()
    run = last_run(services, job_id)
    assert (run.status, run.rows_done) == ("STOPPED", 0)
    with services.engine.connect() as connection:
        exists = inspect(connection).has_table(f"{job_id}_OUT")
    assert not exists or count_rows(services.engine, f"{job_id}_OUT") == 0
