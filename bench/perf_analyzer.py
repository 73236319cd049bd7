"""Find and run NVIDIA's ``perf_analyzer`` against omlsvc's Open Inference Protocol endpoints.

The ``perf-analyzer`` wheel on PyPI is built for glibc 2.38 (``manylinux_2_38``); Debian 12 has 2.36,
so its binary does not start there. The last ``tritonclient`` wheel that still bundles a
``perf_analyzer`` built for an older glibc (2.51.0) does, with ``libb64`` (Debian ``libb64-0d``) and
the CUDA runtime library (``nvidia-cuda-runtime-cu12``, only loaded, never used: we measure over
HTTP). ``.ci/run`` installs that wheel, without its dependencies (it pins numpy < 2), into
``.venv/perf_analyzer`` (``pip install --no-deps --target``). :func:`find_perf_analyzer` takes, in
order: ``$OMLSVC_PERF_ANALYZER``, a ``perf_analyzer`` on PATH that starts, then that folder.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

#: Where .ci/run installs the bundled binary (``pip install --no-deps --target``).
BUNDLED = Path(sys.prefix) / "perf_analyzer"
CUDA_RUNTIME = ("nvidia", "cuda_runtime", "lib")


@dataclass(frozen=True)
class PerfTool:
    path: str
    env: Mapping[str, str]


@dataclass(frozen=True)
class PerfResult:
    """One perf_analyzer measurement: inferences per second (rows: requests x batch) and the
    client-side request latency percentiles, microseconds."""

    concurrency: int
    batch: int
    throughput: float
    p50_us: float
    p99_us: float

    @property
    def requests_per_s(self) -> float:
        return self.throughput / self.batch


def _starts(path: str, env: Mapping[str, str]) -> bool:
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, env=dict(env), timeout=20, check=False
        )
    except OSError:
        return False
    return b"Perf Analyzer" in done.stdout + done.stderr


def find_perf_analyzer() -> PerfTool | None:
    """A perf_analyzer that starts here, with the environment it needs; None when there is none."""
    env = dict(os.environ)
    candidates = [os.environ.get("OMLSVC_PERF_ANALYZER") or "", shutil.which("perf_analyzer") or ""]
    bundled = BUNDLED / "bin" / "perf_analyzer"
    if bundled.exists():
        candidates.append(str(bundled))
        library = BUNDLED.joinpath(*CUDA_RUNTIME)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(library), env.get("LD_LIBRARY_PATH", "")]))
    for path in filter(None, candidates):
        if _starts(path, env):
            return PerfTool(path, env)
    return None


def perf_command(
    tool: PerfTool,
    url: str,
    model: str,
    token: str,
    report: Path,
    *,
    concurrency: int,
    batch: int,
    tensor_format: str,
    interval_ms: int,
    input_data: str | None,
    shapes: Sequence[str],
) -> list[str]:
    """perf_analyzer's command line for one measurement, its CSV report written to ``report``."""
    parts = urlsplit(url)
    command = [
        tool.path,
        "-m",
        model,
        "-u",
        f"{parts.hostname}:{parts.port}",
        "-i",
        "http",
        "-H",
        f"Authorization: Bearer {token}",
        "-b",
        str(batch),
        "--concurrency-range",
        f"{concurrency}:{concurrency}",
        "-p",
        str(interval_ms),
        "-s",
        "1000",
        "-r",
        "3",
        f"--input-tensor-format={tensor_format}",
        f"--output-tensor-format={tensor_format}",
        "-f",
        str(report),
    ]
    if input_data:
        command += ["--input-data", input_data]
    for shape in shapes:
        command += ["--shape", shape]
    return command


def run_perf_analyzer(
    tool: PerfTool,
    url: str,
    model: str,
    token: str,
    *,
    concurrency: int,
    batch: int = 1,
    tensor_format: str = "binary",
    interval_ms: int = 2000,
    input_data: str | None = "zero",
    shapes: Sequence[str] = (),
    timeout_s: float = 300,
) -> PerfResult:
    """One closed-loop measurement at ``concurrency`` over HTTP with ``Authorization: Bearer``.

    Stability is not waited for (the machine is shared): up to 3 windows of ``interval_ms``, the
    last one reported. ``input_data`` is perf_analyzer's: ``zero`` by default, because its random
    data are random bit patterns, NaN among them, which JSON cannot carry (the JSON tensor format
    writes them as ``NaN`` literals, which the service refuses as invalid JSON)."""
    with tempfile.TemporaryDirectory(prefix="omlsvc-perf-") as scratch:
        report = Path(scratch) / "report.csv"
        command = perf_command(
            tool,
            url,
            model,
            token,
            report,
            concurrency=concurrency,
            batch=batch,
            tensor_format=tensor_format,
            interval_ms=interval_ms,
            input_data=input_data,
            shapes=shapes,
        )
        done = subprocess.run(
            command, capture_output=True, text=True, env=dict(tool.env), timeout=timeout_s, check=False
        )
        if done.returncode != 0 or not report.exists():
            raise RuntimeError(
                f"perf_analyzer failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        with report.open() as handle:
            row = next(csv.DictReader(handle))
    return PerfResult(
        concurrency=concurrency,
        batch=batch,
        throughput=float(row["Inferences/Second"]),
        p50_us=float(row["p50 latency"]),
        p99_us=float(row["p99 latency"]),
    )
