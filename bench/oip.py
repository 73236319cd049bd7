"""The Open Inference Protocol (``/v2``) next to the OML score endpoint, on the same deployments (issue 14).

    python -m bench.oip [--seconds 5] [--rounds 3] [--workers 2] [--threads 4] [--concurrency 1 16]

One omlsvc (gunicorn, ``--workers`` x ``--threads``, embedded SQLite) serves the bench's tabular
classifier (20 features) and its small CNN (3x32x32 tensor). For each model, batch and concurrency,
the same rows are sent, each point in turn:

* ``oml json``: ``POST /omlmod/v1/deployment/{uri}/score`` with ``inputRecords``;
* ``v2 json``: ``POST /v2/models/{uri}/infer`` with JSON tensors;
* ``v2 binary``: the binary tensor data extension (raw float32 in, raw outputs back);

the ``/v2`` requests ask for the probability output (what the OML answer carries, as JSON objects);
all three with the same closed-loop load generator (wrk when installed, else the bench's asyncio
client), then ``perf_analyzer`` (NVIDIA's tool, random data of the model's shape) over ``/v2`` with
JSON and with binary tensors, ``-H 'Authorization: Bearer ...'``. Rows/s = requests/s x batch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.client import OmlClient
from bench.load import LoadResult, have_wrk, run_load
from bench.models import BenchModel, build_models
from bench.perf_analyzer import PerfTool, find_perf_analyzer, run_perf_analyzer
from bench.report import markdown_table, save

ADMIN_PASSWORD = "admin-password-for-bench"
#: (model, batch) points: one row and 256 rows of the tabular model, one image tensor and 16.
POINTS = (("tabular", 1), ("tabular", 256), ("small_cnn", 1), ("small_cnn", 16))


def log(message: str) -> None:
    print(f"[bench.oip {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def oml_body(model: BenchModel, batch: int) -> bytes:
    return orjson.dumps({"inputRecords": [{model.input_name: model.batch(batch).tolist()}]})


def v2_json_body(model: BenchModel, batch: int) -> bytes:
    array = model.batch(batch)
    tensor = {
        "name": model.input_name,
        "shape": list(array.shape),
        "datatype": "FP32",
        "data": array.ravel().tolist(),
    }
    return orjson.dumps({"inputs": [tensor], "outputs": [{"name": model.output_names[-1]}]})


def v2_binary_body(model: BenchModel, batch: int) -> tuple[bytes, int]:
    array = model.batch(batch)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": model.input_name,
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": array.nbytes},
                }
            ],
            "outputs": [{"name": model.output_names[-1], "parameters": {"binary_data": True}}],
        }
    )
    return header + array.tobytes(), len(header)


ScorePath = tuple[str, str, bytes, dict[str, str]]


def paths_of(url: str, key: str, model: BenchModel, batch: int) -> list[ScorePath]:
    """The three ways to score ``batch`` rows of ``model``: name, URL, body and extra headers."""
    binary, header_length = v2_binary_body(model, batch)
    return [
        ("oml json", f"{url}/omlmod/v1/deployment/{key}/score", oml_body(model, batch), {}),
        ("v2 json", f"{url}/v2/models/{key}/infer", v2_json_body(model, batch), {}),
        (
            "v2 binary",
            f"{url}/v2/models/{key}/infer",
            binary,
            {"Inference-Header-Content-Length": str(header_length)},
        ),
    ]


def load_rows(
    key: str,
    batch: int,
    concurrency: int,
    paths: list[ScorePath],
    auth: dict[str, str],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Every path under the bench's load generator, medians over the rounds."""
    # round by round in turn, so that other load on the machine hurts every path alike
    runs: dict[str, list[LoadResult]] = {name: [] for name, _, _, _ in paths}
    for _ in range(args.rounds):
        for name, target, body, extra in paths:
            headers = {**auth, "Content-Type": "application/json", **extra}
            result = run_load(target, body, headers, concurrency=concurrency, seconds=args.seconds)
            runs[name].append(result)
            log(f"{key} b{batch} c{concurrency} {name}: {result.throughput:.1f} req/s")
    rows = []
    for name, results in runs.items():
        throughput = statistics.median(r.throughput for r in results)
        rows.append(
            {
                "model": key,
                "batch": batch,
                "concurrency": concurrency,
                "path": name,
                "tool": f"{results[0].tool}, median of {len(results)}",
                "requests_per_s": throughput,
                "rows_per_s": throughput * batch,
                "p50_ms": statistics.median(r.p50_ms for r in results),
                "p99_ms": statistics.median(r.p99_ms for r in results),
                "errors": sum(r.errors for r in results),
            }
        )
    return rows


def perf_rows(
    tool: PerfTool, url: str, token: str, key: str, batch: int, concurrency: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """perf_analyzer over ``/v2`` with JSON and with binary tensors."""
    rows = []
    for tensor_format in ("json", "binary"):
        measured = run_perf_analyzer(
            tool,
            url,
            key,
            token,
            concurrency=concurrency,
            batch=batch,
            tensor_format=tensor_format,
            interval_ms=int(args.seconds * 1000),
        )
        rows.append(
            {
                "model": key,
                "batch": batch,
                "concurrency": concurrency,
                "path": f"v2 {tensor_format}",
                "tool": "perf_analyzer",
                "requests_per_s": measured.requests_per_s,
                "rows_per_s": measured.throughput,
                "p50_ms": measured.p50_us / 1000,
                "p99_ms": measured.p99_us / 1000,
                "errors": 0,
            }
        )
        log(
            f"{key} b{batch} c{concurrency} perf_analyzer {tensor_format}: {measured.requests_per_s:.1f} req/s"
        )
    return rows


def measure(
    url: str, oml: OmlClient, models: dict[str, BenchModel], tool: PerfTool | None, args: argparse.Namespace
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key, batch in POINTS:
        paths = paths_of(url, key, models[key], batch)
        for concurrency in args.concurrency:
            rows += load_rows(key, batch, concurrency, paths, oml.auth, args)
            if tool is not None:
                rows += perf_rows(tool, url, oml.token, key, batch, concurrency, args)
    return rows


def conditions(args: argparse.Namespace, tool: PerfTool | None) -> str:
    load1, load5, _ = os.getloadavg()
    return (
        f"{platform.platform()}, {os.cpu_count()} cores (shared with other work: load average {load1:.1f} / "
        f"{load5:.1f} at the start), omlsvc {args.workers} workers x {args.threads} threads on SQLite, "
        f"{args.seconds:g} s per point after a 1 s warm-up, {args.rounds} alternating rounds, load generator {'wrk' if have_wrk() else 'asyncio'} "
        f"(1 thread) and {'perf_analyzer ' + tool.path if tool else 'no perf_analyzer'}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per point")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per point (median)")
    args = parser.parse_args(argv)

    from tests.e2e.server import running_service

    tool = find_perf_analyzer()
    if tool is None:
        log("perf_analyzer not found: its rows are left out (see bench/perf_analyzer.py)")
    with tempfile.TemporaryDirectory(prefix="omlsvc-bench-oip-") as scratch:
        folder = Path(scratch)
        models = build_models(folder / "models", resnet=False)
        environ = {"OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD}
        with running_service(
            folder / "data", workers=args.workers, threads=args.threads, environ=environ
        ) as service:
            oml = OmlClient(service.url, "admin", ADMIN_PASSWORD)
            for key, model in models.items():
                oml.deploy(oml.upload(key, model.zip_path.read_bytes(), model.model_type), key)
            header = conditions(args, tool)
            rows = measure(service.url, oml, models, tool, args)
    table = markdown_table(
        ["model", "batch", "concurrency", "path", "tool", "req/s", "rows/s", "p50 ms", "p99 ms", "errors"],
        [
            [
                r["model"],
                r["batch"],
                r["concurrency"],
                r["path"],
                r["tool"],
                r["requests_per_s"],
                r["rows_per_s"],
                r["p50_ms"],
                r["p99_ms"],
                r["errors"],
            ]
            for r in rows
        ],
    )
    print(f"Conditions: {header}\n\n{table}")
    path = save("oip", {"conditions": header, "rows": rows})
    log(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
