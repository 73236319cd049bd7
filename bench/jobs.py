"""Batch scoring throughput: a job over a 1,000,000-row table, next to what bounds it.

Measured in one run, on the same table and model:

* **plain read**: reading the input in key order in the runner's chunks (keyset pagination), no scoring;
* **raw onnxruntime**: the same rows already in memory as one float32 array, ``session.run`` per chunk;
* **job**: end to end (claim, read, convert, score, format, write with the checkpoint), rows per second
  of wall time: one runner in this process, then (PostgreSQL) 2 ``omlsvc jobs worker --once`` processes
  sharing the run, their start-up (about a second) included.

    python -m bench.jobs [--rows 1000000] [--model classification|regression|clustering]
                         [--database-url postgresql+psycopg://...] [--chunk-rows 10000]
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.report import markdown_table, save
from omlsvc.config import Settings
from omlsvc.core.authorization import Principal
from omlsvc.db.engine import make_engine
from omlsvc.db.setup import init_schema
from omlsvc.jobs.options import RunnerOptions
from omlsvc.jobs.tables import DataTables
from omlsvc.repository.service import ModelService, parse_model_form
from omlsvc.wiring import build_runner, build_services
from tests import modelzoo
from tests.jobdata import DatabaseRoles, InputTables

ALICE = Principal("alice", ("developer",))
MODELS = {
    "classification": (modelzoo.make_plain_classifier_zip, 4, {"topN": 2}),
    "regression": (modelzoo.make_regressor_zip, 3, {}),
    "clustering": (modelzoo.make_gmm_zip, 4, {"topN": 2}),
}


def scoped_database(url: str | None, folder: Path) -> tuple[str, Engine, Any, str | None]:
    """(url, engine, cleanup, alice's database role) of an empty database: a private PostgreSQL schema
    with a role for alice's jobs, or a SQLite file."""
    if url is None:
        scoped = f"sqlite:///{folder / 'bench.db'}"
        return scoped, make_engine(scoped), lambda: None, None
    schema = f"omlsvc_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    roles = DatabaseRoles(admin, schema, users=("alice",))

    def cleanup() -> None:
        roles.drop()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return scoped, make_engine(scoped), cleanup, roles.roles["alice"]


def run_worker_processes(count: int, url: str, data_dir: Path, chunk_rows: int) -> None:
    """``omlsvc jobs worker --once`` x ``count``, sharing whatever run is pending, until all are done."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OMLSVC_")}
    environ.update(
        OMLSVC_DATABASE_URL=url,
        OMLSVC_DATA_DIR=str(data_dir),
        OMLSVC_JOB_CHUNK_ROWS=str(chunk_rows),
        OMLSVC_MAX_SCORE_ROWS=str(max(10_000, chunk_rows)),
        OMLSVC_JOB_POLL="0.05",
        OMLSVC_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "omlsvc.cli", "jobs", "worker", "--once"]
    processes = [subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL) for _ in range(count)]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"a worker exited with {process.returncode}")


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model", choices=sorted(MODELS), default="classification")
    parser.add_argument("--database-url", default=None, help="default: an embedded SQLite file")
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        url, engine, cleanup, role = scoped_database(args.database_url, folder)
        try:
            init_schema(engine)
            settings = Settings.for_tests(
                folder / "data", database_url=url, max_score_rows=max(10_000, args.chunk_rows)
            )
            services = build_services(settings, engine=engine)
            services.auth.add_user("alice", "bench-password", db_role=role)
            make_zip, width, extra = MODELS[args.model]
            zoo = make_zip(folder)
            form = parse_model_form({"modelName": "bench", "version": "1", "modelType": "ONNX"})
            models = ModelService(
                services.transactions, settings
            )  # validates in this process: no helper process to outlive
            with zoo.zip_path.open("rb") as handle:
                upload = models.receive_upload(handle)
            model_id = models.store_model(ALICE, form, upload).id
            models.discard_upload(upload)

            x, _ = modelzoo._iris()
            rng = np.random.default_rng(0)
            features = (
                x[:, :width].mean(0) + rng.normal(size=(args.rows, width)) * x[:, :width].std(0)
            ).astype(np.float32)
            started = time.perf_counter()
            table = InputTables(engine, readers={"alice": role}).features("bench_in", features)
            load_s = time.perf_counter() - started
            print(f"loaded {args.rows:,} rows into {engine.dialect.name} in {load_s:.1f} s")

            # plain read, in the runner's chunks
            with engine.connect() as connection:
                data = DataTables(connection)
                reflected = data.reflect(None, table)
                columns = [c.name for c in reflected.columns]
                started = time.perf_counter()
                after, read = None, 0
                while True:
                    hi, count = data.next_boundary(reflected, "id", after, args.chunk_rows)
                    if not count:
                        break
                    read += len(data.read_range(reflected, "id", columns, after, hi))
                    after = hi
                read_s = time.perf_counter() - started
            assert read == args.rows

            # raw onnxruntime on the same rows in memory, per chunk
            session = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
            started = time.perf_counter()
            for start in range(0, args.rows, args.chunk_rows):
                session.run(None, {"float_input": features[start : start + args.chunk_rows]})
            ort_s = time.perf_counter() - started

            gc.collect()
            gc.freeze()  # as `omlsvc jobs worker` does
            results = []
            for runners in (1, 2):
                if runners > 1 and engine.dialect.name == "sqlite":
                    break  # one runner per SQLite database
                job_id = services.jobs.create(
                    ALICE,
                    {
                        "jobProperties": {
                            "jobName": f"bench{runners}",
                            "jobType": "MODEL_SCORING",
                            "modelId": model_id,
                            "inputData": table,
                            "outputData": "OUT",
                            "supplementalColumnNames": ["id", "species"],
                            **extra,
                        }
                    },
                )
                started = time.perf_counter()
                if runners == 1:
                    build_runner(services, RunnerOptions(chunk_rows=args.chunk_rows)).run_until_idle(3600)
                else:
                    run_worker_processes(runners, url, folder / "worker", args.chunk_rows)
                job_s = time.perf_counter() - started
                (run,) = services.jobs.runs(ALICE, job_id)
                assert run.status == "SUCCEEDED" and run.rows_done == args.rows, run
                results.append((runners, job_s))
        finally:
            engine.dispose()
            cleanup()

    rows = [
        ["plain read (keyset chunks, no scoring)", read_s, rate(args.rows, read_s)],
        ["raw onnxruntime (rows in memory)", ort_s, rate(args.rows, ort_s)],
        *(
            [
                f"job, {'1 runner in this process' if n == 1 else f'{n} worker processes'}",
                s,
                rate(args.rows, s),
            ]
            for n, s in results
        ),
    ]
    print(f"\n{args.rows:,} rows, {args.model} model, {engine.dialect.name}, chunks of {args.chunk_rows:,}\n")
    print(markdown_table(["what", "seconds", "rows/s"], rows))
    path = save(
        "jobs",
        {
            "database": engine.dialect.name,
            "model": args.model,
            "rows": args.rows,
            "chunk_rows": args.chunk_rows,
            "load_s": load_s,
            "read_rows_per_s": rate(args.rows, read_s),
            "onnxruntime_rows_per_s": rate(args.rows, ort_s),
            "job_rows_per_s": {str(n): rate(args.rows, s) for n, s in results},
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
