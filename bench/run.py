"""The scoring bench (issue 7): omlsvc against the physical limit (onnxruntime alone) and against
Seldon MLServer 1.7, all measured in one run on one machine with the same worker and thread counts.

    python -m bench [--quick] [--workers 2] [--threads 4] [--no-mlserver] [--no-resnet]

Sections, in the order they run:

1. raw ``session.run``: p50/p99 and rows/s per batch size on one stream (one session, the intra-op
   threads an omlsvc worker gives its sessions: cores / workers), and the capacity of ``workers``
   such processes running at once (the ceiling for any server's throughput);
2. the scoring service in-process: authenticate + parse JSON + score + render JSON, no HTTP;
3. omlsvc over HTTP on loopback, one connection, per batch size, next to MLServer;
4. omlsvc and MLServer under closed-loop concurrency 1, 4, 16, 64 (p50/p95/p99, throughput, errors);
5. image scoring: a 3 MP JPEG uploaded to a ResNet-50-sized model, end to end, against a loop of
   omlsvc's own preprocessing plus ``session.run`` with the same threads;
6. peak worker memory, and the cold first score after a deploy (against creating a session and
   running it once).

Measurements of omlsvc and MLServer alternate (round by round), so that anything else running on
the machine hurts both alike; a point's figures are the medians over its rounds. Results are printed
as Markdown tables and saved as JSON under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.inprocess import measure_images_raw_stream, measure_inprocess, measure_raw
from bench.load import have_wrk
from bench.models import build_models, make_jpeg
from bench.plan import Plan, Results, log, make_plan
from bench.render import render, targets
from bench.report import markdown_table, save
from bench.served import measure_cold, measure_http, measure_images, peak_memory, start_servers


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points, shorter runs (about 3 minutes)")
    parser.add_argument(
        "--workers", type=int, default=2, help="server workers (omlsvc) / parallel workers (MLServer)"
    )
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per omlsvc worker")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per load point")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per load point (medians are reported)"
    )
    parser.add_argument("--no-mlserver", action="store_true", help="skip MLServer (no virtualenv is created)")
    parser.add_argument(
        "--no-resnet", action="store_true", help="skip the ResNet-50-sized model (images, cold start)"
    )
    parser.add_argument(
        "--database-url", default=None, help="omlsvc's database (default: its embedded SQLite)"
    )
    parser.add_argument(
        "--serve-from",
        type=Path,
        default=None,
        help="serve omlsvc from this source tree (put first on PYTHONPATH), e.g. an older commit's "
        "`git archive` for a before/after comparison; sections 1-2 always use the installed omlsvc",
    )
    return parser.parse_args(argv)


def measure(plan: Plan, args: argparse.Namespace, results: Results) -> None:
    """Every section in turn, in one scratch directory that the servers and models live in."""
    with tempfile.TemporaryDirectory(prefix="omlsvc-bench-") as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        log("building models and a JPEG")
        models = build_models(scratch / "models", resnet=plan.resnet)
        jpeg = make_jpeg() if plan.resnet else None
        measure_raw(models, plan, results, jpeg)
        image_spec = measure_inprocess(models, plan, results, scratch, jpeg)
        if plan.resnet and jpeg is not None:
            measure_images_raw_stream(models, plan, results, jpeg, image_spec)
        servers = start_servers(
            models, plan, stack, scratch, database_url=args.database_url, serve_from=args.serve_from
        )
        oml = servers.oml
        measure_http(models, plan, results, oml, servers.mlserver_url)
        if plan.resnet and jpeg is not None:
            measure_images(models, plan, results, oml, jpeg, image_spec)
        results.memory["omlsvc workers"] = peak_memory(servers.service.worker_pids())
        if plan.mlserver:
            pids = servers.mlserver_pids()
            results.memory["MLServer front end + inference workers"] = peak_memory(pids)
        if plan.resnet and jpeg is not None:
            measure_cold(models, plan, results, oml, jpeg, scratch / "models")


def conditions(plan: Plan, args: argparse.Namespace, load_before: float, elapsed: float) -> str:
    """The run's settings and the machine's load, printed above the tables and saved with them."""
    header = (
        f"omlsvc scoring bench: {plan.workers} workers x {plan.threads} threads, {plan.intra_op} intra-op thread(s) "
        f"per session, {os.cpu_count()} cores; {plan.rounds} round(s) x {plan.seconds:.1f} s per load point; load "
        f"by {'wrk' if have_wrk() else 'asyncio client'}; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {elapsed / 60:.1f} min"
    )
    if args.serve_from:
        header += f"; omlsvc served from {args.serve_from}"
    return header


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    started = time.perf_counter()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        log(
            f"warning: load average {load_before[0]:.2f} before the run; other processes will make figures noisy"
        )
    results = Results()
    measure(plan, args, results)
    header = conditions(plan, args, load_before[0], time.perf_counter() - started)
    report = render(results, plan)
    goal_rows = targets(results, plan)
    print(f"\n{header}\n\n{report}\n")
    if goal_rows:
        print("### Targets\n")
        print(markdown_table(["target", "measured", "verdict"], goal_rows))
    path = save(
        "scoring",
        {
            "plan": plan.__dict__,
            "header": header,
            "raw": results.raw,
            "inprocess": results.inprocess,
            "http": results.http,
            "images": results.images,
            "cold": results.cold,
            "memory": results.memory,
            "targets": goal_rows,
            "markdown": report,
        },
    )
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
