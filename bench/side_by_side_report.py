"""The side-by-side bench's figures and report (``python -m bench.side_by_side``, issue 20): medians over
rounds, the tabular table with omlsvc's ratio to every server and each server's CPU per request, the
issue's targets with a verdict each, the budget the floor target leaves omlsvc's own work, the run's
conditions, and the CNN table with the most dynamic batching can gain on the machine."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadResult
from bench.report import markdown_table
from omlsvc.scoring.session_options import default_intra_op_threads

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
            f"{f['cpu_ms_per_req'] * 1e3:,.0f}" if "cpu_ms_per_req" in f else "",
            f"{ours / f['req_per_s']:.2f}x" if name != "omlsvc" and f["req_per_s"] else "",
            f"{f['req_per_s'] / floor:.0%}" if floor else "",
        ]
        for name, f in figures.items()
    ]
    headers = ["server", "req/s", "p50 ms", "p99 ms", "errors", "CPU us/req", "omlsvc / this", "of floor"]
    return markdown_table(headers, rows)


def floor_budget(figures: dict[str, dict[str, float]]) -> str | None:
    """What the 70 % floor target asks of omlsvc's own work, from CPU per request (steadier than
    requests/s on a shared machine): the floor's is what any app pays on these gunicorn settings,
    the difference is omlsvc's own work (authentication, routing, conversion, scoring, answer,
    metrics, access line). Both saturate the same cores, so 70 % of the floor's rate means at most
    the floor's CPU per request divided by 0.70. None without both figures."""
    ours, floor = figures.get("omlsvc", {}), figures.get("floor", {})
    if not ours.get("cpu_ms_per_req") or not floor.get("cpu_ms_per_req"):
        return None
    ours_us, floor_us = ours["cpu_ms_per_req"] * 1e3, floor["cpu_ms_per_req"] * 1e3
    allowed = floor_us / FLOOR_TARGET
    return (
        f"CPU per request: omlsvc {ours_us:,.0f} us, floor {floor_us:,.0f} us, so omlsvc's own work is "
        f"{ours_us - floor_us:,.0f} us a request; {FLOOR_TARGET:.0%} of the floor needs at most "
        f"{allowed:,.0f} us, its own work at most {allowed - floor_us:,.0f} us "
        f"({(allowed - floor_us) / max(1.0, ours_us - floor_us):.0%} of what it is)"
    )


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


def conditions(
    args: argparse.Namespace,
    client: str,
    servers: Sequence[str],
    load_before: Sequence[float],
    load_after: Sequence[float],
) -> str:
    """The load client, rounds, every server's workers and threads, the HTTP parser omlsvc and the
    floor share, the machine and its load."""
    return (
        f"load by {client}; {args.rounds} alternating rounds, medians; workers per server: "
        + "; ".join(f"{name} {WORKERS[name].format(w=args.workers, t=args.threads)}" for name in servers)
        + f"; every session {default_intra_op_threads(args.workers)} intra-op thread(s), 1 inter-op, no "
        f"spinning; omlsvc and floor: {gunicorn_parser()}; {os.cpu_count()} cores ({cpu_model()}); "
        f"load average {' '.join(f'{v:.2f}' for v in load_before)} before, "
        f"{' '.join(f'{v:.2f}' for v in load_after)} after"
    )


def gunicorn_parser() -> str:
    """gunicorn's version and the HTTP/1 parser its default (``http_parser = "auto"``) picks: the
    C extension ``gunicorn_h1c`` when it is installed, else the pure Python one. The choice moves
    omlsvc and the floor alike, and both against the peers, so runs that differ in it differ."""
    version = importlib.metadata.version("gunicorn")
    if importlib.util.find_spec("gunicorn_h1c") is None:
        return f"gunicorn {version}, its Python HTTP parser (gunicorn_h1c not installed)"
    return f"gunicorn {version}, gunicorn_h1c {importlib.metadata.version('gunicorn_h1c')} HTTP parser"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's model name, as the kernel reports it ("unknown CPU" where it does not):
    figures of two runs compare only on the same kind of machine."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return "unknown CPU"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown CPU"


def print_tabular(
    figures: dict[str, dict[str, float]], concurrency: int, skipped: dict[str, str]
) -> list[list[str]]:
    """Print the tabular table, the targets and the peers not measured. Returns the targets' rows."""
    print("Tabular (RandomForest, 20 features), batch 1, concurrency", concurrency)
    print(tabular_table(figures))
    goal_rows = targets(figures)
    print(f"\nTargets of issue 20 (set for concurrency 16; this run {concurrency})\n")
    print(markdown_table(["target", "measured", "verdict"], goal_rows))
    for name, reason in skipped.items():
        print(f"- {name}: not measured ({reason})")
    budget = floor_budget(figures)
    if budget:
        print(f"\n{budget}")
    return goal_rows


@dataclass(frozen=True)
class ModelAlone:
    """``session.run`` alone on the CNN (the server's session options, no load): CPU per image at
    batch 1 and at the batch size dynamic batching forms under full load."""

    batch: int
    ms_per_image: float
    batched: int
    batched_ms_per_image: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def ceiling(self, unbatched_ms_per_req: float) -> float:
        """The most batching can multiply throughput by when the server is CPU-bound: everything
        outside the model (HTTP, multipart, JPEG decoding, resizing, the answer) is still done once
        per request; only the model's own cost per image changes, from batch 1 to the batched size."""
        batched = unbatched_ms_per_req - self.ms_per_image + self.batched_ms_per_image
        return unbatched_ms_per_req / batched if batched > 0 else float("inf")


def print_cnn(
    cnn_figures: dict[str, dict[str, float]],
    args: argparse.Namespace,
    batching: dict[str, Any],
    alone: ModelAlone,
) -> None:
    """The small CNN with dynamic batching off and on: throughput, latency and server CPU per request,
    and the ceiling the model's own cost per image puts on what batching can gain here."""
    off, on = cnn_figures["cnn"], cnn_figures["cnn_batched"]
    print(f"\nSmall CNN {args.cnn_size}x{args.cnn_size}, JPEG upload, concurrency {args.concurrency}, omlsvc")
    headers = ["dynamic batching", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req", "server cores"]
    rows = [
        [label, f["req_per_s"], f["p50_ms"], f["p99_ms"], int(f["errors"]), f["cpu_ms_per_req"], f["cores"]]
        for label, f in (("off", off), (str(batching), on))
    ]
    print(markdown_table(headers, rows))
    print(
        f"batching on / off: {on['req_per_s'] / off['req_per_s']:.2f}x throughput, p99 {on['p99_ms']:.1f} vs {off['p99_ms']:.1f} ms, "
        f"{on['cpu_ms_per_req'] / off['cpu_ms_per_req']:.2f}x server CPU per request"
    )
    print(
        f"the model alone: {alone.ms_per_image:.2f} ms CPU per image at batch {alone.batch}, "
        f"{alone.batched_ms_per_image:.2f} ms at batch {alone.batched}; of the server's "
        f"{off['cpu_ms_per_req']:.2f} ms a request unbatched, the rest is done once per request either "
        f"way, so batching can gain at most {alone.ceiling(off['cpu_ms_per_req']):.2f}x on this CPU"
    )
