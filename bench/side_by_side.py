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
requests/s and p50/p99, omlsvc's throughput ratio to it and its fraction of the floor, with the load
client's settings, the worker and thread counts and the load average beside it; then the issue's
targets with a verdict each: at least 3x MLServer, at least 2x the best of BentoML and KServe, a p99
no worse than any of the three, at least 70 % of the floor. For the CNN it also gives the CPU time the
server's workers spent per request (from /proc): on a shared machine requests/s follow the share of
the cores other work leaves the server, CPU per request does not.

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
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from bench.client import OmlClient, call, multipart
from bench.load import LoadResult, have_wrk, run_load
from bench.models import _small_cnn, _tabular, make_jpeg
from bench.peers import HERE as PEERS
from bench.peers import ensure_venv, running_peer
from bench.points import interleaved, mlserver_body, oml_body
from bench.report import markdown_table, save
from omlsvc.scoring.session_options import default_intra_op_threads
from tests.e2e.server import free_port, running_service

ADMIN_PASSWORD = "admin-password-for-side-by-side"
PEERS_ALL = ("floor", "mlserver", "kserve", "bentoml")
BATCHING = {"maxBatchSize": 32, "maxDelayMs": 2}
JSON = {"Content-Type": "application/json"}


def log(message: str) -> None:
    print(f"[side-by-side {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_peer(
    name: str, stack: contextlib.ExitStack, scratch: Path, onnx: Path, args: argparse.Namespace
) -> str:
    """Start one peer; its base URL."""
    intra = default_intra_op_threads(args.workers)
    if name == "mlserver":
        from bench.mlserver import running_mlserver

        server = stack.enter_context(
            running_mlserver(
                scratch / "mlserver", [("tabular", onnx)], workers=args.workers, intra_op_threads=intra
            )
        )
        return server.url
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
    stack.enter_context(
        running_peer(
            name, command, url=url, ready_paths=[ready], log_path=scratch / f"{name}.log", env=env, cwd=cwd
        )
    )
    return url


#: How each server runs its workers (``w`` workers, ``t`` threads per gunicorn worker).
WORKERS = {
    "omlsvc": "gunicorn gthread {w} x {t} threads",
    "floor": "gunicorn gthread {w} x {t} threads",
    "mlserver": "{w} parallel inference workers behind 1 uvicorn front end",
    "kserve": "{w} uvicorn workers",
    "bentoml": "{w} workers",
}
#: The issue's targets for omlsvc, tabular batch 1 at concurrency 16.
MLSERVER_TARGET, OTHER_PEERS_TARGET, FLOOR_TARGET = 3.0, 2.0, 0.70
OTHER_PEERS = ("bentoml", "kserve")


def load_client(use_wrk: bool, args: argparse.Namespace) -> str:
    """What generates the load, in words: the same settings :func:`bench.load.run_load` runs with."""
    if use_wrk:
        return (
            f"wrk -t1 -c{args.concurrency} -d{max(1, round(args.seconds))}s (after a "
            f"-d{max(1, round(args.warmup))}s warm-up run per point)"
        )
    return (
        f"the asyncio client (wrk is not on PATH), {args.concurrency} connections, {args.seconds:g} s after "
        f"{args.warmup:g} s warm-up"
    )


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes ``pids`` have used (all their threads), from /proc."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def cpu_figures(rounds: list[tuple[float, int]], seconds: float) -> dict[str, float]:
    """Server CPU per request and cores used, medians over rounds: unlike req/s on a shared machine,
    CPU per request does not depend on the share of the cores other work leaves the server."""
    return {
        "cpu_ms_per_req": statistics.median(cpu / max(1, requests) * 1e3 for cpu, requests in rounds),
        "cores": statistics.median(cpu / seconds for cpu, _ in rounds),
    }


def median_of(runs: list[LoadResult]) -> dict[str, float]:
    return {
        "req_per_s": statistics.median(r.throughput for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "errors": float(sum(r.errors for r in runs)),
    }


def tabular_table(figures: dict[str, dict[str, float]]) -> str:
    """Every server's figures with omlsvc's throughput ratio to it and its fraction of the floor."""
    ours = figures.get("omlsvc", {}).get("req_per_s", 0.0)
    floor = figures.get("floor", {}).get("req_per_s", 0.0)
    rows = [
        [
            name,
            f["req_per_s"],
            f["p50_ms"],
            f["p99_ms"],
            int(f["errors"]),
            f"{ours / f['req_per_s']:.2f}x" if name != "omlsvc" and f["req_per_s"] else "",
            f"{f['req_per_s'] / floor:.0%}" if floor else "",
        ]
        for name, f in figures.items()
    ]
    headers = ["server", "req/s", "p50 ms", "p99 ms", "errors", "omlsvc / this", "of floor"]
    return markdown_table(headers, rows)


def verdict(ok: bool, *, complete: bool) -> str:
    """A target missed against the servers measured is missed; met only when all of them were."""
    if not ok:
        return "MISSED"
    return "met" if complete else "UNKNOWN"


def targets(figures: dict[str, dict[str, float]]) -> list[list[str]]:
    """The issue's four targets for omlsvc, each with its measure and verdict.

    At least 3x MLServer's throughput, at least 2x the best of BentoML and KServe, a p99 no worse
    than any of those three, and at least 70 % of the HTTP floor's throughput. A target whose
    comparison server was not measured says so instead of passing.
    """
    ours = figures.get("omlsvc")
    if ours is None or not ours["req_per_s"]:
        return [["omlsvc answers", "no successful request", "MISSED"]]
    return [
        throughput_target(
            f"req/s >= {MLSERVER_TARGET:g}x MLServer", ours, figures, ("mlserver",), MLSERVER_TARGET
        ),
        throughput_target(
            f"req/s >= {OTHER_PEERS_TARGET:g}x the best of BentoML and KServe",
            ours,
            figures,
            OTHER_PEERS,
            OTHER_PEERS_TARGET,
        ),
        p99_target(ours, figures, ("mlserver", *OTHER_PEERS)),
        throughput_target(
            f"req/s >= {FLOOR_TARGET:.0%} of the HTTP floor",
            ours,
            figures,
            ("floor",),
            FLOOR_TARGET,
            percent=True,
        ),
    ]


def measured(figures: dict[str, dict[str, float]], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """The servers of ``names`` that answered requests in this run."""
    return {n: figures[n] for n in names if n in figures and figures[n]["req_per_s"]}


def throughput_target(
    label: str,
    ours: dict[str, float],
    figures: dict[str, dict[str, float]],
    names: Sequence[str],
    target: float,
    *,
    percent: bool = False,
) -> list[str]:
    """omlsvc's requests/s against the best of ``names``: at least ``target`` times theirs."""
    rivals = measured(figures, names)
    missing = [n for n in names if n not in rivals]
    if not rivals:
        return [label, f"{', '.join(missing)} not measured", "UNKNOWN"]
    best = max(rivals, key=lambda n: rivals[n]["req_per_s"])
    ratio = ours["req_per_s"] / rivals[best]["req_per_s"]
    measure = (
        f"{ratio:.0%}" if percent else f"{ratio:.2f}x"
    ) + f" of {best} ({ours['req_per_s']:,.0f} vs {rivals[best]['req_per_s']:,.0f} req/s)"
    if missing:
        measure += f"; {', '.join(missing)} not measured"
    return [label, measure, verdict(ratio >= target, complete=not missing)]


def p99_target(
    ours: dict[str, float], figures: dict[str, dict[str, float]], names: Sequence[str]
) -> list[str]:
    """omlsvc's p99 no worse than that of any of ``names``."""
    label = "p99 no worse than " + ", ".join(names)
    rivals = measured(figures, names)
    missing = [n for n in names if n not in rivals]
    if not rivals:
        return [label, f"{', '.join(missing)} not measured", "UNKNOWN"]
    measure = f"omlsvc {ours['p99_ms']:.1f} ms; " + ", ".join(
        f"{n} {f['p99_ms']:.1f}" for n, f in rivals.items()
    )
    if missing:
        measure += f"; {', '.join(missing)} not measured"
    lowest = min(f["p99_ms"] for f in rivals.values())
    return [label, measure, verdict(ours["p99_ms"] <= lowest, complete=not missing)]


def main() -> int:
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
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS_ALL)
    if unknown:
        raise SystemExit(f"unknown peers: {', '.join(sorted(unknown))}")
    load_before = os.getloadavg()
    use_wrk = have_wrk()
    client = load_client(use_wrk, args)
    log(f"load by {client}")
    with tempfile.TemporaryDirectory(prefix="omlsvc-sbs-") as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        tabular = _tabular(scratch)
        intra = default_intra_op_threads(args.workers)
        service = stack.enter_context(
            running_service(
                scratch / "omlsvc",
                workers=args.workers,
                threads=args.threads,
                environ={"OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD, "OMLSVC_INTRA_OP_THREADS": str(intra)},
            )
        )
        oml = OmlClient(service.url, "admin", ADMIN_PASSWORD)
        oml.deploy(oml.upload("tabular", tabular.zip_path.read_bytes(), "ONNX"), "tabular")
        points: list[tuple[str, Callable[[], LoadResult]]] = []

        def point(
            name: str, url: str, body: bytes, headers: dict[str, str]
        ) -> tuple[str, Callable[[], LoadResult]]:
            """One load point: every server and model gets the same load client and settings."""
            return name, functools.partial(
                run_load,
                url,
                body,
                headers,
                concurrency=args.concurrency,
                seconds=args.seconds,
                warmup=args.warmup,
                use_wrk=use_wrk,
            )

        points.append(point("omlsvc", oml.score_url("tabular"), oml_body(tabular, 1), {**JSON, **oml.auth}))
        skipped: dict[str, str] = {}
        for name in peers:
            try:
                log(f"starting {name}")
                url = start_peer(name, stack, scratch, tabular.onnx_path, args)
            except Exception as exc:  # a peer that cannot run is reported, not fatal
                lines = [line for line in str(exc).splitlines() if line.strip()]
                skipped[name] = " / ".join(lines[:1] + lines[-2:])[:400]
                log(f"{name} skipped: {skipped[name]}")
                continue
            if name == "floor":
                target, body = f"{url}/score", oml_body(tabular, 1)
            elif name in ("mlserver", "kserve"):
                target, body = f"{url}/v2/models/tabular/infer", mlserver_body(tabular, 1)
            else:
                target, body = f"{url}/predict", orjson.dumps({"input": tabular.batch(1).tolist()})
            answer = call(target, "POST", body, JSON)
            if answer.status != 200:  # a peer that does not score is not measured
                skipped[name] = f"answered {answer.status}: {answer.body[:200]!r}"
                log(f"{name} skipped: {skipped[name]}")
                continue
            points.append(point(name, target, body, JSON))
        log(
            f"tabular batch 1: {len(points)} servers x {args.rounds} rounds x {args.seconds + args.warmup:g} s"
        )
        tabular_runs = interleaved(points, args.rounds)

        cnn_runs: dict[str, list[LoadResult]] = {}
        cnn_cpu: dict[str, list[tuple[float, int]]] = {"cnn": [], "cnn_batched": []}
        if not args.no_cnn:
            cnn = _small_cnn(scratch, args.cnn_size)
            zip_bytes = cnn.zip_path.read_bytes()
            oml.deploy(oml.upload("cnn", zip_bytes, "ONNX_IMG"), "cnn")
            oml.deploy(oml.upload("cnn_batched", zip_bytes, "ONNX_IMG"), "cnn_batched", batching=BATCHING)
            body, content_type = multipart(
                {}, {"imageData": ("photo.jpg", make_jpeg(max(256, args.cnn_size), max(256, args.cnn_size)))}
            )
            headers = {**oml.auth, "Content-Type": content_type}
            for uri in ("cnn", "cnn_batched"):
                oml.score(uri, body, content_type)
            workers = service.worker_pids()

            def cnn_point(uri: str) -> LoadResult:
                """One round, with the CPU the server's workers spent on its measured part."""
                url = oml.score_url(uri)
                if args.warmup > 0:
                    run_load(
                        url,
                        body,
                        headers,
                        concurrency=args.concurrency,
                        seconds=args.warmup,
                        warmup=0,
                        use_wrk=use_wrk,
                    )
                before = cpu_seconds(workers)
                result = run_load(
                    url,
                    body,
                    headers,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=0,
                    use_wrk=use_wrk,
                )
                cnn_cpu[uri].append((cpu_seconds(workers) - before, result.requests))
                return result

            cnn_points: list[tuple[str, Callable[[], LoadResult]]] = [
                (uri, lambda uri=uri: cnn_point(uri))  # type: ignore[misc]
                for uri in ("cnn", "cnn_batched")
            ]
            log(
                f"CNN {args.cnn_size}x{args.cnn_size} JPEG uploads, batching off and on: {args.rounds} rounds"
            )
            cnn_runs = interleaved(cnn_points, args.rounds)
    load_after = os.getloadavg()

    figures = {name: median_of(runs) for name, runs in tabular_runs.items()}
    header = (
        f"load by {client}; {args.rounds} alternating rounds, medians; workers per server: "
        + "; ".join(f"{name} {WORKERS[name].format(w=args.workers, t=args.threads)}" for name in figures)
        + f"; every session {default_intra_op_threads(args.workers)} intra-op thread(s), 1 inter-op, no "
        f"spinning; {os.cpu_count()} cores; load average {' '.join(f'{v:.2f}' for v in load_before)} before, "
        f"{' '.join(f'{v:.2f}' for v in load_after)} after"
    )
    print(f"\n{header}\n")
    print("Tabular (RandomForest, 20 features), batch 1, concurrency", args.concurrency)
    print(tabular_table(figures))
    goal_rows = targets(figures)
    print(f"\nTargets of issue 20 (set for concurrency 16; this run {args.concurrency})\n")
    print(markdown_table(["target", "measured", "verdict"], goal_rows))
    for name, reason in skipped.items():
        print(f"- {name}: not measured ({reason})")
    cnn_figures = {
        name: {**median_of(runs), **cpu_figures(cnn_cpu[name], args.seconds)}
        for name, runs in cnn_runs.items()
    }
    if cnn_figures:
        off, on = cnn_figures["cnn"], cnn_figures["cnn_batched"]
        print(
            f"\nSmall CNN {args.cnn_size}x{args.cnn_size}, JPEG upload, concurrency {args.concurrency}, omlsvc"
        )
        print(
            markdown_table(
                [
                    "dynamic batching",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "server CPU ms/req",
                    "server cores",
                ],
                [
                    [
                        label,
                        f["req_per_s"],
                        f["p50_ms"],
                        f["p99_ms"],
                        int(f["errors"]),
                        f["cpu_ms_per_req"],
                        f["cores"],
                    ]
                    for label, f in (("off", off), (str(BATCHING), on))
                ],
            )
        )
        print(
            f"batching on / off: {on['req_per_s'] / off['req_per_s']:.2f}x throughput, p99 {on['p99_ms']:.1f} vs {off['p99_ms']:.1f} ms, "
            f"{on['cpu_ms_per_req'] / off['cpu_ms_per_req']:.2f}x server CPU per request"
        )
    path = save(
        "side-by-side",
        {
            "header": header,
            "tabular": figures,
            "targets": goal_rows,
            "skipped": skipped,
            "cnn": cnn_figures,
            "rounds": {k: [r.as_dict() for r in v] for k, v in {**tabular_runs, **cnn_runs}.items()},
        },
    )
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
