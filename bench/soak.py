"""Soak: the robustness suite's client fleet against real gunicorn for minutes, with figures.

64 clients (by default) mix uploads, deploys, scores, reads, undeploys and deletes on loopback, as
``tests/robustness/test_load.py`` does for a few seconds. Printed and saved under ``bench/results/``:
requests and errors by status, latency percentiles per operation, worker restarts (pids that changed),
worker memory before and after, and the integrity check of the database against what the clients
were told (every stored model re-hashed from its chunks).

    python -m bench.soak [--minutes 5] [--clients 64] [--workers 2] [--threads 4]
                         [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A PostgreSQL URL gets a private schema for the run, dropped afterwards. Exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import markdown_table, save
from tests.e2e.server import RunningService
from tests.robustness.load import Integrity, LoadResult, run_fleet, verify_database
from tests.robustness.served import database_of, memory_kib, prepare_fleet, private_postgres_schema, serving


@dataclass
class Soak:
    """What one soak saw: the fleet's outcomes, the workers before and after, the database's integrity."""

    result: LoadResult
    elapsed: float
    workers: list[int]
    before: dict[int, dict[str, int]]
    after_pids: list[int]
    after: dict[int, dict[str, int]]
    integrity: Integrity
    tracebacks: int

    @property
    def restarts(self) -> int:
        return len(set(self.workers) - set(self.after_pids))

    @property
    def failed(self) -> bool:
        integrity = self.integrity
        return bool(
            self.result.unexpected()
            or self.result.hung
            or self.restarts
            or self.tracebacks
            or integrity.missing_models
            or integrity.extra_models
            or integrity.missing_deployments
            or integrity.extra_deployments
            or integrity.bad_content
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL server (default: SQLite in the data dir)"
    )
    return parser.parse_args(argv)


def soak(args: argparse.Namespace, directory: Path) -> Soak:
    """Serve, run the fleet for ``--minutes``, then check the workers and the database."""
    schema = private_postgres_schema(args.database_url) if args.database_url else nullcontext(None)
    with schema as database_url, _service(directory, args, database_url) as service:
        engine = database_of(service, database_url)
        fleet = prepare_fleet(service, engine, directory, users=args.users)
        workers = sorted(service.worker_pids())
        before = {pid: memory_kib(pid) for pid in workers}
        print(
            f"soak: {args.clients} clients for {args.minutes:g} min against {service.url} "
            f"({args.workers} workers x {args.threads} threads, {'PostgreSQL' if database_url else 'SQLite'})"
        )
        started = time.monotonic()
        result = run_fleet(
            service.url,
            fleet.tokens,
            fleet.template,
            fleet.score_body,
            fleet.shared_uris,
            clients=args.clients,
            duration_s=args.minutes * 60,
            timeout_s=120,
        )
        elapsed = time.monotonic() - started
        after_pids = sorted(service.worker_pids())
        after = {pid: memory_kib(pid) for pid in after_pids}
        integrity = verify_database(
            engine,
            result.told,
            models_before=fleet.models_before,
            deployments_before=fleet.deployments_before,
        )
        engine.dispose()
        tracebacks = service.log().count("Traceback")
    return Soak(result, elapsed, workers, before, after_pids, after, integrity, tracebacks)


def figures(run: Soak) -> list[tuple[str, object]]:
    """The whole run in one table: requests, statuses, latency, workers, memory and integrity."""
    result, integrity, before, after = run.result, run.integrity, run.before, run.after
    statuses = result.by_status()
    errors = {status: count for status, count in statuses.items() if status >= 500 or status == 0}
    return [
        ("requests", len(result.outcomes)),
        ("requests/s", len(result.outcomes) / run.elapsed),
        ("statuses", ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))),
        ("unexpected answers", len(result.unexpected())),
        ("5xx or no answer", sum(errors.values())),
        ("p50 ms (all)", 1000 * result.percentile(0.50)),
        ("p99 ms (all)", 1000 * result.percentile(0.99)),
        ("hung requests", result.hung),
        ("worker restarts", run.restarts),
        ("worker RSS before MiB", " / ".join(f"{before[p]['VmRSS'] / 1024:.0f}" for p in run.workers)),
        ("worker RSS after MiB", " / ".join(f"{after[p]['VmRSS'] / 1024:.0f}" for p in run.after_pids)),
        ("worker peak MiB", " / ".join(f"{after[p]['VmHWM'] / 1024:.0f}" for p in run.after_pids)),
        ("models / deployments in db", f"{integrity.models_in_db} / {integrity.deployments_in_db}"),
        (
            "models missing / extra",
            f"{len(integrity.missing_models)} / {len(integrity.extra_models)}",
        ),
        (
            "deployments missing / extra",
            f"{len(integrity.missing_deployments)} / {len(integrity.extra_deployments)}",
        ),
        ("models whose bytes changed", len(integrity.bad_content)),
        ("tracebacks in the log", run.tracebacks),
    ]


def payload(args: argparse.Namespace, run: Soak) -> dict[str, Any]:
    """What is saved under ``bench/results/``."""
    result = run.result
    return {
        "clients": args.clients,
        "minutes": args.minutes,
        "workers": args.workers,
        "threads": args.threads,
        "database": "postgresql" if args.database_url else "sqlite",
        "requests": len(result.outcomes),
        "statuses": {str(s): n for s, n in result.by_status().items()},
        "unexpected": [o.__dict__ for o in result.unexpected()[:50]],
        "p50_ms": 1000 * result.percentile(0.50),
        "p99_ms": 1000 * result.percentile(0.99),
        "per_operation": [
            dict(zip(("op", "requests", "statuses", "p50_ms", "p99_ms", "max_ms"), row, strict=True))
            for row in result.table()
        ],
        "hung": result.hung,
        "worker_restarts": run.restarts,
        "memory_before_kib": {str(p): m for p, m in run.before.items()},
        "memory_after_kib": {str(p): m for p, m in run.after.items()},
        "integrity": run.integrity.__dict__,
        "tracebacks": run.tracebacks,
        "failed": run.failed,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="omlsvc-soak-") as scratch:
        run = soak(args, Path(scratch))
    print()
    print(
        markdown_table(
            ("operation", "requests", "statuses", "p50 ms", "p99 ms", "max ms"), run.result.table()
        )
    )
    print()
    print(markdown_table(("figure", "value"), figures(run)))
    path = save("soak", payload(args, run))
    print(f"\nsaved {path}")
    return 1 if run.failed else 0


@contextmanager
def _service(directory: Path, args: argparse.Namespace, database_url: str | None) -> Iterator[RunningService]:
    with serving(
        directory / "data", workers=args.workers, threads=args.threads, database_url=database_url
    ) as service:
        yield service


if __name__ == "__main__":
    sys.exit(main())
