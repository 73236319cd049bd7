"""The batch scoring runner on real databases: every row scored exactly once, whatever happens.

The large tests run on PostgreSQL (the database several runners share): 100,000 rows per function,
compared row by row with onnxruntime run directly on the same values; a runner process killed with
SIGKILL in the middle of a chunk, whose work a second runner resumes; two runners sharing one run.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from sqlalchemy import Engine, text

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import Unavailable
from omlsvc.jobs.options import RunnerOptions
from omlsvc.jobs.runner import Claim, Runner
from omlsvc.jobs.tables import decode_key
from omlsvc.repository.form import parse_model_form
from omlsvc.wiring import Services, build_runner
from tests import modelzoo
from tests.jobdata import InputTables, count_rows, read_table

ALICE = Principal("alice", ("developer",))
ROWS = 100_000
SQL = Path(__file__).resolve().parents[2] / "sql"


# -- fixtures ----------------------------------------------------------------------------------------


def store(services: Services, zoo: modelzoo.ZooModel, name: str, model_type: str = "ONNX") -> str:
    form = parse_model_form({"modelName": name, "version": "1", "modelType": model_type})
    with zoo.zip_path.open("rb") as handle:
        upload = services.models.receive_upload(handle)
    try:
        return services.models.store_model(ALICE, form, upload).id
    finally:
        services.models.discard_upload(upload)


def submit(services: Services, model_id: str, table: str, **properties: Any) -> str:
    return services.jobs.create(
        ALICE,
        {
            "jobProperties": {
                "jobName": "batch",
                "jobType": "MODEL_SCORING",
                "modelId": model_id,
                "inputData": table,
                "outputData": "OUT",
                "supplementalColumnNames": ["id", "species"],
                **properties,
            }
        },
    )


def features(rows: int, width: int = 4, seed: int = 0) -> np.ndarray:
    """Rows spread around the iris measurements, as float32 (what the models take)."""
    x, _ = modelzoo._iris()
    rng = np.random.default_rng(seed)
    return (x[:, :width].mean(0) + rng.normal(size=(rows, width)) * x[:, :width].std(0)).astype(np.float32)


def session(zoo: modelzoo.ZooModel) -> ort.InferenceSession:
    return ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])


def last_run(services: Services, job_id: str) -> Any:
    return services.jobs.runs(ALICE, job_id, 1)[0]


def runner(services: Services, **options: Any) -> Runner:
    return build_runner(services, RunnerOptions(**{"chunk_rows": 10_000, **options}))


def started_job(services: Services, tables: InputTables, tmp_path: Path, name: str, rows: int) -> str:
    """A classification job over ``rows`` fresh rows in table ``name``, made disabled and started
    by hand (``RUN``), so the test decides which runner works it and when."""
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    table = tables.features(name, features(rows))
    job_id = submit(services, store(services, zoo, name), table, disableJob=True)
    services.jobs.act(ALICE, job_id, "RUN")
    return job_id


# -- 100,000 rows per function -------------------------------------------------------------------------


@pytest.mark.slow
def test_regression_of_100k_rows_matches_onnxruntime(
    pg: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = pg
    zoo = modelzoo.make_regressor_zip(tmp_path)
    x = features(ROWS, 3)
    table = tables.features("reg", x)
    job_id = submit(services, store(services, zoo, "reg"), table)
    runner(services).run_until_idle()
    assert last_run(services, job_id).status == "SUCCEEDED"
    rows = read_table(services.engine, f"{job_id}_OUT")
    (expected,) = session(zoo).run(None, {"float_input": x})
    assert [r["id"] for r in rows] == list(range(ROWS))
    np.testing.assert_allclose(
        [r["OML$PREDICTION"] for r in rows], expected.reshape(-1), rtol=1e-6, atol=1e-6
    )


@pytest.mark.slow
def test_classification_of_100k_rows_matches_onnxruntime(
    pg: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = pg
    zoo = modelzoo.make_plain_classifier_zip(tmp_path)
    x = features(ROWS)
    table = tables.features("cls", x)
    job_id = submit(services, store(services, zoo, "cls"), table, topN=3)
    runner(services).run_until_idle()
    assert last_run(services, job_id).status == "SUCCEEDED"
    rows = read_table(services.engine, f"{job_id}_OUT")
    _, probabilities = session(zoo).run(None, {"float_input": x})
    order = np.argsort(-probabilities, axis=1, kind="stable")
    labels = np.asarray(modelzoo.IRIS_CLASSES)[order]
    assert len(rows) == ROWS
    for k in range(3):
        assert [r[f"OML$PREDICTION{k + 1}"] for r in rows] == labels[:, k].tolist()
        np.testing.assert_allclose(
            [r[f"OML$PROBABILITY{k + 1}"] for r in rows],
            np.take_along_axis(probabilities, order, 1)[:, k],
            atol=1e-6,
        )


@pytest.mark.slow
def test_clustering_of_100k_rows_matches_onnxruntime(
    pg: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = pg
    zoo = modelzoo.make_gmm_zip(tmp_path)
    x = features(ROWS)
    table = tables.features("clu", x)
    job_id = submit(services, store(services, zoo, "clu"), table, topN=2)
    runner(services).run_until_idle()
    assert last_run(services, job_id).status == "SUCCEEDED"
    rows = read_table(services.engine, f"{job_id}_OUT")
    outputs = dict(
        zip(
            [o.name for o in session(zoo).get_outputs()],
            session(zoo).run(None, {"float_input": x}),
            strict=True,
        )
    )
    probabilities = next(v for k, v in outputs.items() if "prob" in k)
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :2]
    assert len(rows) == ROWS
    assert [r["OML$CLUSTER_ID1"] for r in rows] == [str(i) for i in order[:, 0]]
    assert [r["OML$CLUSTER_ID2"] for r in rows] == [str(i) for i in order[:, 1]]
    np.testing.assert_allclose(
        [r["OML$PROBABILITY1"] for r in rows], np.take_along_axis(probabilities, order, 1)[:, 0], atol=1e-6
    )


def photo(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_feature_extraction_reads_images_from_a_blob_column(
    pg: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = pg
    zoo = modelzoo.make_feature_extractor_zip(tmp_path)
    images = [photo(i) for i in range(600)]
    table = tables.images("photos", images)
    job_id = submit(
        services, store(services, zoo, "emb", "ONNX_IMG"), table, supplementalColumnNames=["id", "name"]
    )
    runner(services, image_chunk_rows=128).run_until_idle()
    assert last_run(services, job_id).status == "SUCCEEDED"
    rows = read_table(services.engine, f"{job_id}_OUT")
    assert list(rows[0]) == [
        "id",
        "name",
        *(f"OML${kind}{k}" for k in range(1, 5) for kind in ("FEATURE_ID", "WEIGHT")),
    ]
    size = modelzoo.IMAGE_SIZE
    batch = np.stack(
        [
            np.asarray(
                Image.open(io.BytesIO(i)).convert("RGB").resize((size, size), Image.Resampling.BILINEAR),
                np.float32,
            )
            for i in images
        ]
    ).transpose(0, 3, 1, 2)
    (expected,) = session(zoo).run(None, {"image": batch})
    order = np.argsort(-expected, axis=1, kind="stable")
    assert len(rows) == len(images)
    for row, ids, weights in zip(rows, order, np.take_along_axis(expected, order, 1), strict=True):
        assert [row[f"OML$FEATURE_ID{k}"] for k in range(1, 5)] == ids.tolist()
        np.testing.assert_allclose(
            [row[f"OML$WEIGHT{k}"] for k in range(1, 5)], weights, rtol=1e-5, atol=1e-5
        )


# -- exactly once ------------------------------------------------------------------------------------


def claim_one(worker: Runner) -> Claim:
    """Schedule and claim one chunk by hand (the first round only builds the run's context)."""
    worker.schedule_due()
    for _ in range(3):
        claim, _ = worker.claim_next()
        if claim is not None:
            return claim
    raise AssertionError("nothing to claim")


def assert_each_row_once(engine: Engine, output: str, rows: int) -> None:
    with engine.connect() as connection:
        total, distinct, low, high = connection.execute(
            text(f'SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "{output}"')
        ).one()
    assert (total, distinct, low, high) == (rows, rows, 0, rows - 1)


def test_a_runner_that_lost_its_lease_writes_nothing(
    both: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = both
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    table = tables.features("lease", features(500))
    job_id = submit(services, store(services, zoo, "lease"), table)
    slow = runner(services, chunk_rows=200, lease_s=0.05)
    claim = claim_one(slow)
    time.sleep(0.1)
    rescuer = runner(services, chunk_rows=200)
    taken = rescuer.take_over_expired()
    assert taken is not None and (taken.run_id, taken.seq) == (claim.run_id, claim.seq)
    rescuer.process(taken)
    slow.process(claim)  # too late: its chunk was taken over and finished
    assert slow.stats.lost_leases == 1 and slow.stats.rows == 0
    rescuer.run_until_idle()
    assert rescuer.stats.takeovers == 1
    assert last_run(services, job_id).status == "SUCCEEDED"
    assert_each_row_once(services.engine, f"{job_id}_OUT", 500)


def test_stop_ends_the_run_between_chunks(both: tuple[Services, InputTables], tmp_path: Path) -> None:
    services, tables = both
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    table = tables.features("stop", features(1000))
    model = store(services, zoo, "stop")
    append = submit(services, model, table, disableJob=True)
    replace = submit(services, model, table, recompute=True, disableJob=True)
    for job_id in (append, replace):
        services.jobs.act(ALICE, job_id, "RUN")
        worker = runner(services, chunk_rows=300)
        claim = claim_one(worker)
        services.jobs.act(ALICE, job_id, "STOP")
        worker.process(claim)  # the chunk in flight completes
        worker.run_until_idle()
        run = last_run(services, job_id)
        assert (run.status, run.rows_done) == ("STOPPED", 300)
    assert count_rows(services.engine, f"{append}_OUT") == 300
    with services.engine.connect() as connection:
        names = set(connection.dialect.get_table_names(connection))
    assert f"{replace}_OUT" not in names  # a stopped recompute run publishes nothing
    assert not any(name.startswith("OML$S_") for name in names)  # and leaves no staging table


def test_the_next_chunk_is_claimed_while_one_is_written(
    pg: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = pg
    job_id = started_job(services, tables, tmp_path, "ahead", 1000)
    worker = runner(services, chunk_rows=300)
    for _ in range(3):  # the first round only builds the run's context
        if last_run(services, job_id).rows_done:
            break
        worker.work_once()
    assert last_run(services, job_id).rows_done == 300
    with services.engine.connect() as connection:
        held = connection.execute(text("SELECT lo_key, claimed_by FROM job_chunks")).all()
        written = connection.execute(text(f'SELECT max(id) FROM "{job_id}_OUT"')).scalar()
    # the next 300 rows, claimed (and read) while the first 300 were scored and written
    assert [(decode_key(lo_key), by) for lo_key, by in held] == [(written, worker.runner_id)]
    services.jobs.act(ALICE, job_id, "STOP")
    worker.run_until_idle()
    run = last_run(services, job_id)
    assert (run.status, run.rows_done) == ("STOPPED", 600)  # it completes like any chunk in flight
    assert_each_row_once(services.engine, f"{job_id}_OUT", 600)


def test_a_bad_value_fails_the_run_with_the_rows_named(
    both: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = both
    zoo = modelzoo.make_multi_input_pipeline_zip(tmp_path)
    x = features(50, 2)
    table = tables.features("pipe", x, labels=["red", "green"] * 24 + [None, "blue"])  # type: ignore[list-item]
    job_id = submit(
        services,
        store(services, zoo, "pipe"),
        table,
        inputColumnNames=["species", "sepal_length", "sepal_width"],
    )
    runner(services, chunk_rows=20).run_until_idle()
    run = last_run(services, job_id)
    assert run.status == "FAILED"
    assert "rows with id from 40 to 49" in run.error_message
    assert (
        count_rows(services.engine, f"{job_id}_OUT") == 40
    )  # appended chunks stay; the bad one is not written


@pytest.mark.slow
def test_a_killed_runner_process_is_replaced_without_losing_or_repeating_rows(
    pg: tuple[Services, InputTables], tmp_path: Path, postgres_schema_url: str
) -> None:
    services, tables = pg
    rows = 60_000
    job_id = started_job(services, tables, tmp_path, "kill", rows)
    with worker_process(tmp_path, postgres_schema_url, OMLSVC_JOB_CHUNK_ROWS="1000") as (worker, log):
        # caught once a chunk is written and another one is held, not yet written
        in_flight = stop_while_holding(services.engine, worker, log, seen=ROWS_WRITTEN, timeout_s=60)
    assert in_flight, "the worker never had a chunk in flight"
    done_when_killed = last_run(services, job_id).rows_done
    assert 0 < done_when_killed < rows
    rescuer = runner(services, chunk_rows=5000, lease_s=2)
    rescuer.run_until_idle(timeout_s=120)
    run = last_run(services, job_id)
    assert (run.status, run.rows_done) == ("SUCCEEDED", rows)
    assert_each_row_once(services.engine, f"{job_id}_OUT", rows)
    # Whether the rescuer took over the dead runner's range or reclaimed the whole run from its
    # checkpoint depends on which lease ran out first on a loaded machine; both must lose nothing.


ROWS_WRITTEN = "SELECT coalesce(max(rows_done), 0) FROM job_runs"
CHUNKS_HELD = "SELECT count(*) FROM job_chunks"


@contextmanager
def worker_process(
    tmp_path: Path, database_url: str, **environ: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``omlsvc jobs worker`` in a child process on ``database_url`` with a 2 s lease (``environ``: more
    settings), and the file it logs to; killed with SIGKILL when the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMLSVC_")}
    env.update(
        OMLSVC_DATABASE_URL=database_url,
        OMLSVC_DATA_DIR=str(tmp_path / "worker"),
        OMLSVC_JOB_LEASE="2",
        OMLSVC_JOB_POLL="0.1",
        OMLSVC_LOG_LEVEL="WARNING",
        **environ,
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(  # exec'd directly, so SIGKILL reaches the runner itself
            [sys.executable, "-m", "omlsvc.cli", "jobs", "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker, log
    finally:
        worker.kill()
        worker.wait()


def stop_while_holding(
    engine: Engine, worker: subprocess.Popen[bytes], log: Path, *, seen: str, timeout_s: float
) -> bool:
    """Once the query ``seen`` answers non-zero, pause the worker (SIGSTOP) and keep it paused if it
    holds a chunk (a ``job_chunks`` row: what it computes for that chunk is not committed), else let
    it go on and look again; True if caught holding one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.returncode}:\n{log.read_text()}")
        with engine.connect() as connection:
            ready = connection.execute(text(seen)).scalar()
        if ready:
            worker.send_signal(signal.SIGSTOP)
            with engine.connect() as connection:
                held = connection.execute(text(CHUNKS_HELD)).scalar()
            if held:
                return True
            worker.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    return False


@pytest.mark.slow
def test_two_runners_share_one_run_without_overlap(pg: tuple[Services, InputTables], tmp_path: Path) -> None:
    services, tables = pg
    rows = 60_000
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    table = tables.features("share", features(rows))
    job_id = submit(services, store(services, zoo, "share"), table, recompute=True)
    runners = [runner(services, chunk_rows=2000) for _ in range(2)]
    threads = [threading.Thread(target=r.run_until_idle) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.stats.chunks > 0 for r in runners), [r.stats.chunks for r in runners]
    assert sum(r.stats.chunks for r in runners) == rows // 2000
    assert last_run(services, job_id).status == "SUCCEEDED"
    assert_each_row_once(services.engine, f"{job_id}_OUT", rows)


# -- the database's own scheduler ----------------------------------------------------------------------


def test_pg_cron_can_enqueue_runs_through_the_sql_function(
    pg: tuple[Services, InputTables], tmp_path: Path
) -> None:
    services, tables = pg
    with services.engine.begin() as connection:
        connection.exec_driver_sql((SQL / "postgresql" / "jobs.sql").read_text())
    table = tables.features("cron", features(300))
    job_id = submit(
        services,
        store(services, modelzoo.make_zipmap_classifier_zip(tmp_path), "cron"),
        table,
        disableJob=True,
    )
    # disabled: omlsvc's own scheduler leaves it to the database's, which may still run it (like RUN)
    enqueue = text("SELECT omlsvc_enqueue_run(:job_id)")
    with services.engine.begin() as connection:
        run_id = connection.execute(enqueue, {"job_id": job_id}).scalar()
        assert connection.execute(enqueue, {"job_id": job_id}).scalar() is None  # one run at a time
    run = last_run(services, job_id)
    assert (run.id, run.run_type, run.status) == (run_id, "EXTERNAL", "PENDING")
    runner(services).run_until_idle()
    run = last_run(services, job_id)
    assert (run.status, run.rows_done) == ("SUCCEEDED", 300)
    assert services.jobs.get(ALICE, job_id).job.run_count == 0  # like RUN, not a scheduled run
    with pytest.raises(Exception, match="does not exist"), services.engine.begin() as connection:
        connection.execute(enqueue, {"job_id": "OML$NOPE"})


class ChunkAndClaimAheadFail(Runner):
    """A runner that claims one chunk, then meets a database outage on that chunk while the claim of
    its next chunk (ahead) fails on an error quoting ``value``, as a driver's error may quote a key."""

    def __init__(self, services: Services, value: str) -> None:
        super().__init__(
            services.transactions,
            services.scoring,
            services.auth,
            services.models,
            RunnerOptions(chunk_rows=300),
        )
        self.value = value
        self.claimed: list[Claim] = []

    def claim_next(self) -> tuple[Claim | None, bool]:
        if self.claimed:
            raise LookupError(self.value)
        claim, moved = super().claim_next()
        if claim is not None:
            self.claimed.append(claim)
        return claim, moved

    def process(self, claim: Claim) -> None:
        raise Unavailable("The database is not available; try again shortly.")


def test_when_a_chunk_and_the_claim_ahead_both_fail_the_chunks_failure_is_raised_and_the_claims_logged(
    pg: tuple[Services, InputTables], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    services, tables = pg
    job_id = started_job(services, tables, tmp_path, "both_fail", 1000)
    failing = ChunkAndClaimAheadFail(
        services, "-".join(["4711", "from", "the", "table"])
    )  # in no source line

    with caplog.at_level(logging.WARNING, logger="omlsvc.jobs.runner"), pytest.raises(Unavailable):
        for _ in range(3):  # the first round only builds the run's context, the next scores a chunk
            failing.work_once()

    [logged] = [r for r in caplog.records if "claiming the next chunk ahead" in r.getMessage()]
    assert "unexpected LookupError" in logged.getMessage()
    assert failing.value not in caplog.text  # its type and where, never its message
    # once the database is back, the chunk it still holds is written, and the run goes on
    recovered = build_runner(services, RunnerOptions(chunk_rows=300), runner_id=failing.runner_id)
    recovered.process(failing.claimed[0])
    recovered.run_until_idle()
    assert last_run(services, job_id).status == "SUCCEEDED"
    assert_each_row_once(services.engine, f"{job_id}_OUT", 1000)
