"""Batch scoring throughput: a job over an N-row table (default 1,000,000), next to what bounds it.

Measured in one run, per database (SQLite, PostgreSQL) and per function (classification,
regression), on the same table and model:

* **plain read**: reading the input in key order in the runner's chunks, as the runner reads a chunk
  it claims (keyset pagination, one ``... WHERE key > last ORDER BY key LIMIT chunk`` statement per
  chunk, one transaction each), no scoring and no bookkeeping;
* **plain write**: writing rows shaped like the job's output (key, copied column, a label and a value
  per ``topN`` rank, or the prediction),
  chunk by chunk, one transaction each, through the runner's own bulk path (COPY / executemany), no
  scoring and no checkpoint;
* **raw onnxruntime**: the same rows already in memory as one float32 array, ``session.run`` per chunk;
* **job**: end to end (claim, read, convert, score, format, write with the checkpoint), rows per second
  of wall time, one runner in this process (optionally also ``--processes`` ``omlsvc jobs worker
  --once`` processes sharing the run, PostgreSQL only, their start-up included).

Read, write and job alternate round by round (``--rounds``, medians), after one job that warms the
model's session up. The ratio printed is the job's rate over the rate of the plain read followed by the plain write of
the same rows (``1 / (1/read + 1/write)``): 1.0 would mean the service adds nothing to what the
database needs anyway. The load average is printed beside the figures: on a shared machine they move.

    python -m bench.jobs [--rows 1000000] [--models classification,regression]
                         [--databases sqlite,postgresql] [--database-url postgresql+psycopg://...]
                         [--chunk-rows 10000] [--processes 0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from sqlalchemy import Column, Double, Engine, Integer, MetaData, String, Table, select, text
from sqlalchemy.engine import make_url

from bench.report import markdown_table, save
from omlsvc.config import Settings
from omlsvc.core.authorization import Principal
from omlsvc.db.engine import make_engine
from omlsvc.db.setup import init_schema
from omlsvc.jobs.options import RunnerOptions
from omlsvc.jobs.shapes import OutputBatch
from omlsvc.jobs.tables import LABEL_LENGTH, DataTables
from omlsvc.repository.form import parse_model_form
from omlsvc.repository.service import ModelService
from omlsvc.wiring import Services, build_runner, build_services
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


def plain_write(engine: Engine, rows: int, chunk_rows: int, function: str) -> float:
    """Seconds to write ``rows`` output-shaped rows in chunks (one transaction each) through the
    runner's bulk path (:meth:`DataTables.insert`)."""
    generated: list[tuple[str, str]] = [("OML$PREDICTION", "double")]
    if function != "regression":  # the job's own output columns: a label and a value per topN rank
        first, second = (
            ("CLUSTER_ID", "PROBABILITY") if function == "clustering" else ("PREDICTION", "PROBABILITY")
        )
        top_n = int(MODELS[function][2].get("topN", 1))
        generated = [
            (f"OML${name}{k}", kind)
            for k in range(1, top_n + 1)
            for name, kind in ((first, "text"), (second, "double"))
        ]
    columns: list[Column[Any]] = [Column("id", Integer), Column("species", String(20))]
    columns += [
        Column(name, String(LABEL_LENGTH) if kind == "text" else Double(), quote=True)
        for name, kind in generated
    ]
    table = Table(f"bench_write_{uuid.uuid4().hex[:8]}", MetaData(), *columns, quote=True)
    table.create(engine)
    names = tuple(c.name for c in table.columns)
    rng = np.random.default_rng(1)
    try:
        started = time.perf_counter()
        for start in range(0, rows, chunk_rows):
            count = min(chunk_rows, rows - start)
            values: list[list[Any]] = [list(range(start, start + count)), ["unknown"] * count]
            for _, kind in generated:
                values.append(["setosa"] * count if kind == "text" else rng.random(count).tolist())
            with engine.begin() as connection:
                DataTables(connection).insert(table, OutputBatch(names, tuple(values), count))
        return time.perf_counter() - started
    finally:
        table.drop(engine)


def plain_read(engine: Engine, table: str, rows: int, chunk_rows: int) -> float:
    """Seconds to read ``table`` in key order in the runner's chunks, as the runner reads them (one
    statement and one transaction a chunk)."""
    with engine.connect() as connection:
        reflected = DataTables(connection).reflect(None, table)
    columns = [c.name for c in reflected.columns]
    started = time.perf_counter()
    after, read = None, 0
    key = reflected.c["id"]
    while True:
        query = select(*(reflected.c[name] for name in columns)).order_by(key).limit(chunk_rows)
        if after is not None:
            query = query.where(key > after)
        with engine.begin() as connection:
            chunk = connection.execute(query).all()
        if not chunk:
            break
        read += len(chunk)
        after = chunk[-1][0]
    seconds = time.perf_counter() - started
    assert read == rows, (read, rows)
    return seconds


@dataclass
class Bench:
    """One database and one function, ready to score: a worker's services on the scoped database,
    alice's model stored, the input table loaded."""

    url: str
    engine: Engine
    folder: Path
    services: Services
    model_id: str
    extra: dict[str, Any]
    table: str
    args: argparse.Namespace
    counter: Iterator[int] = field(default_factory=lambda: iter(range(1_000_000)))

    def job(self, runners: int) -> float:
        """Seconds for ``runners`` to score the whole table once (a fresh job each time)."""
        rows, chunk_rows = self.args.rows, self.args.chunk_rows
        job_id = self.services.jobs.create(
            ALICE,
            {
                "jobProperties": {
                    "jobName": f"bench{next(self.counter)}",
                    "jobType": "MODEL_SCORING",
                    "modelId": self.model_id,
                    "inputData": self.table,
                    "outputData": "OUT",
                    "supplementalColumnNames": ["id", "species"],
                    **self.extra,
                }
            },
        )
        started = time.perf_counter()
        if runners == 1:
            build_runner(self.services, RunnerOptions(chunk_rows=chunk_rows)).run_until_idle(3600)
        else:
            run_worker_processes(runners, self.url, self.folder / "worker", chunk_rows)
        seconds = time.perf_counter() - started
        (run,) = self.services.jobs.runs(ALICE, job_id)
        assert run.status == "SUCCEEDED" and run.rows_done == rows, run
        return seconds


@dataclass(frozen=True)
class Seconds:
    """What one database and one function took over the whole table: loading it, ``session.run``
    alone, and the medians of the rounds of the plain read, the plain write and each kind of job."""

    load: float
    onnxruntime: float
    read: float
    write: float
    jobs: dict[str, float]


def start_services(url: str, engine: Engine, role: str | None, folder: Path, chunk_rows: int) -> Services:
    """A worker's services on the scoped database, with alice (and her database role on PostgreSQL)."""
    init_schema(engine)
    settings = Settings.for_tests(folder / "data", database_url=url, max_score_rows=max(10_000, chunk_rows))
    services = build_services(settings, engine=engine)
    services.auth.add_user("alice", "bench-password", db_role=role)
    return services


def store_model(services: Services, zip_path: Path) -> str:
    """The model packed at ``zip_path`` stored as alice's ``bench`` version 1; its id."""
    form = parse_model_form({"modelName": "bench", "version": "1", "modelType": "ONNX"})
    # validates in this process: no helper process to outlive
    models = ModelService(services.transactions, services.settings)
    with zip_path.open("rb") as handle:
        upload = models.receive_upload(handle)
    model_id = models.store_model(ALICE, form, upload).id
    models.discard_upload(upload)
    return model_id


def make_features(rows: int, width: int) -> np.ndarray:
    """``rows`` float32 rows of ``width`` features, normal around iris's means with iris's spreads."""
    x, _ = modelzoo._iris()
    rng = np.random.default_rng(0)
    return (x[:, :width].mean(0) + rng.normal(size=(rows, width)) * x[:, :width].std(0)).astype(np.float32)


def load_table(engine: Engine, role: str | None, features: np.ndarray) -> tuple[str, float]:
    """The input table holding ``features``, readable by alice, and the seconds loading it took
    (printed as well)."""
    started = time.perf_counter()
    table = InputTables(engine, readers={"alice": role}).features("bench_in", features)
    load_s = time.perf_counter() - started
    print(f"loaded {len(features):,} rows into {engine.dialect.name} in {load_s:.1f} s", flush=True)
    return table, load_s


def onnxruntime_seconds(onnx_bytes: bytes, features: np.ndarray, chunk_rows: int) -> float:
    """Seconds of ``session.run`` over ``features`` already in memory as one array, chunk by chunk."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    for start in range(0, len(features), chunk_rows):
        session.run(None, {"float_input": features[start : start + chunk_rows]})
    return time.perf_counter() - started


def alternate_rounds(bench: Bench, model: str) -> tuple[float, float, dict[str, float]]:
    """Medians of ``--rounds`` rounds of the plain read, the plain write and one job in this process,
    after one job that warms up; with ``--processes``, one more job by that many worker processes."""
    args, engine = bench.args, bench.engine
    gc.collect()
    gc.freeze()  # as `omlsvc jobs worker` does
    bench.job(1)  # the model's session, the first reflection: not what a table of a million rows pays for
    # read, write and job alternate round by round: load from elsewhere hurts each alike
    reads, writes, singles = [], [], []
    for _ in range(args.rounds):
        reads.append(plain_read(engine, bench.table, args.rows, args.chunk_rows))
        writes.append(plain_write(engine, args.rows, args.chunk_rows, model))
        singles.append(bench.job(1))
    read_s, write_s = statistics.median(reads), statistics.median(writes)
    jobs: dict[str, float] = {"1 runner in this process": statistics.median(singles)}
    if args.processes > 1 and engine.dialect.name != "sqlite":  # one runner per SQLite database
        jobs[f"{args.processes} worker processes"] = bench.job(args.processes)
    gc.unfreeze()
    return read_s, write_s, jobs


def measure(url: str | None, model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of one database and one function."""
    make_zip, width, extra = MODELS[model]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        url, engine, cleanup, role = scoped_database(url, folder)
        try:
            services = start_services(url, engine, role, folder, args.chunk_rows)
            zoo = make_zip(folder)
            model_id = store_model(services, zoo.zip_path)
            features = make_features(args.rows, width)
            table, load_s = load_table(engine, role, features)
            ort_s = onnxruntime_seconds(zoo.onnx_bytes, features, args.chunk_rows)
            bench = Bench(url, engine, folder, services, model_id, extra, table, args)
            read_s, write_s, jobs = alternate_rounds(bench, model)
        finally:
            dialect = engine.dialect.name
            engine.dispose()
            cleanup()
    return figures(dialect, model, args.rows, Seconds(load_s, ort_s, read_s, write_s, jobs))


def figures(database: str, model: str, rows: int, seconds: Seconds) -> dict[str, Any]:
    """The rates of one database and one function, as saved, and the job's over the read-then-write
    floor (``1 / (1/read + 1/write)``)."""
    read_rate, write_rate = rate(rows, seconds.read), rate(rows, seconds.write)
    floor = 1 / (1 / read_rate + 1 / write_rate)
    return {
        "database": database,
        "model": model,
        "load_s": seconds.load,
        "read_rows_per_s": read_rate,
        "write_rows_per_s": write_rate,
        "read_then_write_rows_per_s": floor,
        "onnxruntime_rows_per_s": rate(rows, seconds.onnxruntime),
        "job_rows_per_s": {name: rate(rows, s) for name, s in seconds.jobs.items()},
        "job_vs_read_then_write": {name: rate(rows, s) / floor for name, s in seconds.jobs.items()},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", default="classification,regression", help=f"of {', '.join(MODELS)}")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "OMLSVC_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="the PostgreSQL database (a private schema is made in it and dropped)",
    )
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=0, help="also N `omlsvc jobs worker` processes")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of read, write and job")
    return parser.parse_args(argv)


def table_rows(results: list[dict[str, Any]]) -> list[list[object]]:
    """One row a database, function and kind of job."""
    return [
        [
            r["database"],
            r["model"],
            r["read_rows_per_s"],
            r["write_rows_per_s"],
            r["read_then_write_rows_per_s"],
            r["onnxruntime_rows_per_s"],
            f"{job_rate:,.0f} ({name})",
            f"{r['job_vs_read_then_write'][name]:.2f}x",
        ]
        for r in results
        for name, job_rate in r["job_rows_per_s"].items()
    ]


def print_report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    """The run's settings and the load average before and after, then the table."""
    print(
        f"\n{args.rows:,} rows, chunks of {args.chunk_rows:,}; load average "
        f"{' '.join(f'{v:.2f}' for v in load_before)} before, {' '.join(f'{v:.2f}' for v in load_after)} after "
        f"({os.cpu_count()} cores)\n"
    )
    headers = [
        "database",
        "function",
        "read rows/s",
        "write rows/s",
        "read+write rows/s",
        "onnxruntime rows/s",
    ]
    print(markdown_table([*headers, "job rows/s", "job / (read+write)"], table_rows(results)))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models: {', '.join(sorted(unknown))}")
    urls = {"sqlite": None, "postgresql": args.database_url}
    databases = [d for d in args.databases.split(",") if d]
    load_before = os.getloadavg()
    results = [measure(urls[database], model, args) for database in databases for model in models]
    load_after = os.getloadavg()
    print_report(args, results, load_before, load_after)
    path = save(
        "jobs",
        {
            "rows": args.rows,
            "chunk_rows": args.chunk_rows,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "results": results,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
