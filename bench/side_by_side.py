"""omlsvc side by side with its peers and the HTTP floor, in one run (issue 20).

Tabular batch 1 (the bench's RandomForest, 20 features) at one concurrency (default 16), served by:
omlsvc; the HTTP floor (a bare Falcon app on the same gunicorn settings that parses the JSON body and
answers a constant); Seldon MLServer; KServe's Python model server; BentoML, each with the same
worker count and the same onnxruntime, numpy and session options (``bench/peers/onnx_session.py``).
Then a small CNN (3 x 224 x 224 by default) scored with JPEG uploads on omlsvc with and without
dynamic batching.

The load comes from ``wrk -t1`` (one client thread, ``--concurrency`` connections, ``--seconds``)
when wrk is on PATH, from the asyncio client of :mod:`bench.load` otherwise; the report says which.
Rounds alternate between the servers (the order reversed every other round) so other load on the
machine hurts every server alike; figures are medians over the rounds. The table gives each server's
requests/s, p50/p99 and the CPU time its processes spent per request (from /proc: on a shared machine
requests/s follow the share of the cores other work leaves the server, CPU per request does not),
omlsvc's throughput ratio to it and its fraction of the floor, with the load client's settings, the
worker and thread counts and the load average beside it; then the issue's targets with a verdict
each: at least 3x MLServer, at least 2x the best of BentoML and KServe, a p99 no worse than any of the
three, at least 70 % of the floor; and what omlsvc's own work per request (its CPU per request less
the floor's) would have to be for the 70 %. For the CNN, beside the same figures with batching off
and on, the model alone on onnxruntime (the server's session options) gives the CPU per image at
batch 1 and at the batch size batching forms: the most batching can save on this machine.

Peers run from their own virtualenvs under ``bench/`` (git-ignored), installed on first use
(``bench/peers``); a peer that cannot be installed or started is reported and skipped.

    python -m bench.side_by_side [--seconds 10] [--rounds 3] [--concurrency 16] [--workers 2]
        [--threads 4] [--peers floor,mlserver,kserve,bentoml] [--cnn-size 224] [--no-cnn]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime
import orjson

from bench.client import OmlClient, call, multipart
from bench.load import LoadResult, have_wrk, run_load
from bench.models import BenchModel, _small_cnn, _tabular, make_jpeg
from bench.peers import HERE as PEERS
from bench.peers import ensure_venv, running_peer
from bench.points import interleaved, mlserver_body, oml_body
from bench.report import save
from bench.side_by_side_report import (
    ModelAlone,
    conditions,
    cpu_figures,
    load_client,
    median_of,
    print_cnn,
    print_tabular,
)
from omlsvc.scoring.session_options import default_intra_op_threads, make_session_options
from tests.e2e.server import RunningService, free_port, running_service

ADMIN_PASSWORD = "admin-password-for-side-by-side"
PEERS_ALL = ("floor", "mlserver", "kserve", "bentoml")
BATCHING = {"maxBatchSize": 32, "maxDelayMs": 2}
JSON = {"Content-Type": "application/json"}


def log(message: str) -> None:
    print(f"[side-by-side {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


Pids = Callable[[], list[int]]


def start_peer(
    name: str, stack: contextlib.ExitStack, scratch: Path, onnx: Path, args: argparse.Namespace
) -> tuple[str, Pids]:
    """Start one peer; its base URL and its processes (read at each round: workers may restart)."""
    intra = default_intra_op_threads(args.workers)
    if name == "mlserver":
        from bench.mlserver import running_mlserver

        server = stack.enter_context(
            running_mlserver(
                scratch / "mlserver", [("tabular", onnx)], workers=args.workers, intra_op_threads=intra
            )
        )
        return server.url, server.pids
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "BENCH_INTRA_OP_THREADS": str(intra),
        "BENCH_WORKERS": str(args.workers),
        "BENCH_MODEL": str(onnx),
        "PYTHONPATH": str(PEERS),  # onnx_session.py, in every worker process the peer starts
    }
    if name == "floor":
        command = [
            sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(args.workers), "--threads",
            str(args.threads), "--reuse-port", "--keep-alive", "5", "-b", f"127.0.0.1:{port}",
            "bench.peers.floor_app:app",
        ]  # fmt: skip
        ready, cwd = "/score", Path.cwd()
        del env["PYTHONPATH"]  # omlsvc's own virtualenv, as it is
    elif name == "kserve":
        python = ensure_venv("kserve")
        command = [
            str(python), str(PEERS / "kserve_server.py"), "--http_port", str(port), "--workers",
            str(args.workers), f"tabular={onnx}",
        ]  # fmt: skip
        ready, cwd = "/v2/health/ready", PEERS
    else:
        python = ensure_venv("bentoml")
        command = [
            str(python.parent / "bentoml"), "serve", "bentoml_service:Tabular", "--host", "127.0.0.1", "--port",
            str(port),
        ]  # fmt: skip
        ready, cwd = "/readyz", PEERS
    peer = stack.enter_context(
        running_peer(
            name, command, url=url, ready_paths=[ready], log_path=scratch / f"{name}.log", env=env, cwd=cwd
        )
    )
    return url, peer.pids


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes ``pids`` have used (all their threads), from /proc."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


LoadPoint = tuple[str, Callable[[], LoadResult]]


def model_alone(
    onnx: Path, row: np.ndarray, batches: tuple[int, int], workers: int, seconds: float
) -> ModelAlone:
    """CPU per image of ``session.run`` alone at each of ``batches`` (rows of ``row`` repeated), with the
    session options each of the server's ``workers`` workers uses, in this process while no load runs."""
    session = onnxruntime.InferenceSession(
        str(onnx), make_session_options(workers=workers), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    per_image = []
    for size in batches:
        feed = {name: np.repeat(row, size, axis=0)}
        session.run(None, feed)
        runs, started = 0, time.process_time()
        while runs < 3 or time.process_time() - started < seconds:
            session.run(None, feed)
            runs += 1
        per_image.append((time.process_time() - started) / (runs * size) * 1e3)
    return ModelAlone(batches[0], per_image[0], batches[1], per_image[1])


@dataclass
class Bench:
    """One run's settings, load client and servers, and what it measured."""

    args: argparse.Namespace
    use_wrk: bool
    stack: contextlib.ExitStack
    scratch: Path
    service: RunningService | None = None
    oml: OmlClient | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    tabular_runs: dict[str, list[LoadResult]] = field(default_factory=dict)
    cnn_runs: dict[str, list[LoadResult]] = field(default_factory=dict)
    #: per load point, each round's CPU seconds of the server's processes and requests answered
    cpu: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    cnn_alone: ModelAlone | None = None

    def point(self, name: str, url: str, body: bytes, headers: dict[str, str], pids: Pids) -> LoadPoint:
        """One load point: every server and model gets the same load client and settings."""
        return name, functools.partial(self.measured_round, name, url, body, headers, pids)

    def measured_round(
        self, name: str, url: str, body: bytes, headers: dict[str, str], pids: Pids
    ) -> LoadResult:
        """One round of a point: the warm-up, then the measured run with the CPU time the server's
        processes spent during it."""
        settings = {"concurrency": self.args.concurrency, "use_wrk": self.use_wrk}
        if self.args.warmup > 0:
            run_load(url, body, headers, seconds=self.args.warmup, warmup=0, **settings)
        processes = pids()
        before = cpu_seconds(processes)
        result = run_load(url, body, headers, seconds=self.args.seconds, warmup=0, **settings)
        self.cpu.setdefault(name, []).append((cpu_seconds(processes) - before, result.requests))
        return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--peers", default=",".join(PEERS_ALL))
    parser.add_argument("--cnn-size", type=int, default=224)
    parser.add_argument("--no-cnn", action="store_true")
    return parser.parse_args()


def start_omlsvc(bench: Bench, tabular: BenchModel) -> OmlClient:
    """omlsvc under gunicorn with the tabular model deployed; its client."""
    intra = default_intra_op_threads(bench.args.workers)
    bench.service = bench.stack.enter_context(
        running_service(
            bench.scratch / "omlsvc",
            workers=bench.args.workers,
            threads=bench.args.threads,
            environ={"OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD, "OMLSVC_INTRA_OP_THREADS": str(intra)},
        )
    )
    oml = bench.oml = OmlClient(bench.service.url, "admin", ADMIN_PASSWORD)
    oml.deploy(oml.upload("tabular", tabular.zip_path.read_bytes(), "ONNX"), "tabular")
    return oml


def peer_request(name: str, url: str, tabular: BenchModel) -> tuple[str, bytes]:
    """Where a peer scores and the body it takes, for one row of the tabular model."""
    if name == "floor":
        return f"{url}/score", oml_body(tabular, 1)
    if name in ("mlserver", "kserve"):
        return f"{url}/v2/models/tabular/infer", mlserver_body(tabular, 1)
    return f"{url}/predict", orjson.dumps({"input": tabular.batch(1).tolist()})


def start_peers(bench: Bench, peers: list[str], tabular: BenchModel) -> list[LoadPoint]:
    """Start every peer and check that it scores; one that does not is skipped with its reason."""
    points = []
    for name in peers:
        try:
            log(f"starting {name}")
            url, pids = start_peer(name, bench.stack, bench.scratch, tabular.onnx_path, bench.args)
        except Exception as exc:  # a peer that cannot run is reported, not fatal
            lines = [line for line in str(exc).splitlines() if line.strip()]
            bench.skipped[name] = " / ".join(lines[:1] + lines[-2:])[:400]
            log(f"{name} skipped: {bench.skipped[name]}")
            continue
        target, body = peer_request(name, url, tabular)
        answer = call(target, "POST", body, JSON)
        if answer.status != 200:  # a peer that does not score is not measured
            bench.skipped[name] = f"answered {answer.status}: {answer.body[:200]!r}"
            log(f"{name} skipped: {bench.skipped[name]}")
            continue
        points.append(bench.point(name, target, body, JSON, pids))
    return points


def measure_tabular(bench: Bench, peers: list[str]) -> None:
    """Tabular batch 1 on omlsvc and every peer that scores, round by round in turn."""
    tabular = _tabular(bench.scratch)
    oml = start_omlsvc(bench, tabular)
    assert bench.service is not None
    body, headers = oml_body(tabular, 1), {**JSON, **oml.auth}
    points = [bench.point("omlsvc", oml.score_url("tabular"), body, headers, bench.service.process_tree)]
    points += start_peers(bench, peers, tabular)
    args = bench.args
    log(f"tabular batch 1: {len(points)} servers x {args.rounds} rounds x {args.seconds + args.warmup:g} s")
    bench.tabular_runs = interleaved(points, args.rounds)


def measure_cnn(bench: Bench) -> None:
    """JPEG uploads of the small CNN on omlsvc, dynamic batching off and on, round by round in turn."""
    args, oml, service = bench.args, bench.oml, bench.service
    assert oml is not None and service is not None
    cnn = _small_cnn(bench.scratch, args.cnn_size)
    zip_bytes = cnn.zip_path.read_bytes()
    oml.deploy(oml.upload("cnn", zip_bytes, "ONNX_IMG"), "cnn")
    oml.deploy(oml.upload("cnn_batched", zip_bytes, "ONNX_IMG"), "cnn_batched", batching=BATCHING)
    body, content_type = multipart(
        {}, {"imageData": ("photo.jpg", make_jpeg(max(256, args.cnn_size), max(256, args.cnn_size)))}
    )
    headers = {**oml.auth, "Content-Type": content_type}
    for uri in ("cnn", "cnn_batched"):
        oml.score(uri, body, content_type)
    batches = (1, BATCHING["maxBatchSize"])
    bench.cnn_alone = model_alone(cnn.onnx_path, cnn.row, batches, args.workers, seconds=2.0)
    points = [
        bench.point(uri, oml.score_url(uri), body, headers, service.process_tree)
        for uri in ("cnn", "cnn_batched")
    ]
    log(f"CNN {args.cnn_size}x{args.cnn_size} JPEG uploads, batching off and on: {args.rounds} rounds")
    bench.cnn_runs = interleaved(points, args.rounds)


def main() -> int:
    args = parse_args()
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS_ALL)
    if unknown:
        raise SystemExit(f"unknown peers: {', '.join(sorted(unknown))}")
    load_before = os.getloadavg()
    use_wrk = have_wrk()
    client = load_client(use_wrk, args)
    log(f"load by {client}")
    with tempfile.TemporaryDirectory(prefix="omlsvc-sbs-") as tmp, contextlib.ExitStack() as stack:
        bench = Bench(args, use_wrk, stack, Path(tmp))
        measure_tabular(bench, peers)
        if not args.no_cnn:
            measure_cnn(bench)
    load_after = os.getloadavg()

    figures = {
        name: {**median_of(runs), **cpu_figures(bench.cpu[name], args.seconds)}
        for name, runs in bench.tabular_runs.items()
    }
    header = conditions(args, client, list(figures), load_before, load_after)
    print(f"\n{header}\n")
    goal_rows = print_tabular(figures, args.concurrency, bench.skipped)
    cnn_figures = {
        name: {**median_of(runs), **cpu_figures(bench.cpu[name], args.seconds)}
        for name, runs in bench.cnn_runs.items()
    }
    if cnn_figures and bench.cnn_alone is not None:
        print_cnn(cnn_figures, args, BATCHING, bench.cnn_alone)
    runs = {**bench.tabular_runs, **bench.cnn_runs}
    path = save(
        "side-by-side",
        {
            "header": header,
            "tabular": figures,
            "targets": goal_rows,
            "skipped": bench.skipped,
            "cnn": cnn_figures,
            "cnn_model_alone": bench.cnn_alone.as_dict() if bench.cnn_alone else None,
            "rounds": {k: [r.as_dict() for r in v] for k, v in runs.items()},
        },
    )
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
