"""How fast a model runs on this host: latency percentiles, rows per second, peak memory and session
creation time, per batch size and execution provider.

Runs in a child process (:mod:`omlsvc.tasks.isolated`), so a model's memory and threads never touch
a worker. Inputs are synthetic, built from the model's signature (:mod:`omlsvc.tasks.samples`). Each
batch size gets one untimed warm-up run, then runs back to back for ``seconds`` (at least
``MIN_RUNS``); rows per second is ``batch * runs / time spent running``. Peak memory is the child's
peak resident set size after the batch size's runs (it only grows: a figure is the high-water mark
so far, the first batch size's includes the session). Session creation is timed once per provider.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from omlsvc.core.signature import ImageSpec
from omlsvc.tasks.samples import synthetic_inputs

MIN_RUNS = 5
MAX_RUNS = 100_000
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def default_providers() -> list[str]:
    """CPU, and CUDA too where onnxruntime offers it on this host."""
    available = onnxruntime.get_available_providers()
    return [CPU] + ([CUDA] if CUDA in available else [])


def profile(
    model: Path,
    batch_sizes: Sequence[int],
    seconds: float,
    providers: Sequence[str] | None = None,
    image: ImageSpec | None = None,
    threads: int = 0,
) -> dict[str, Any]:
    """``{"results": [...one per provider and batch size...], "skipped": [...providers absent here...]}``."""
    wanted = list(providers) if providers else default_providers()
    available = set(onnxruntime.get_available_providers())
    results: list[dict[str, Any]] = []
    skipped = [p for p in wanted if p not in available]
    for provider in [p for p in wanted if p in available]:
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        started = time.perf_counter()
        session = onnxruntime.InferenceSession(str(model), options, providers=[provider])
        creation_ms = (time.perf_counter() - started) * 1000
        if provider not in session.get_providers():
            skipped.append(provider)
            continue
        for rows in batch_sizes:
            batch = synthetic_inputs(session.get_inputs(), rows, image=image)
            results.append(_measure(session, batch, rows, seconds, provider, creation_ms))
    return {"results": results, "skipped": skipped}


def _measure(
    session: onnxruntime.InferenceSession,
    batch: dict[str, np.ndarray],
    rows: int,
    seconds: float,
    provider: str,
    creation_ms: float,
) -> dict[str, Any]:
    session.run(None, batch)  # warm-up: first-run allocations and kernel choices are not the steady state
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while (len(latencies) < MIN_RUNS or time.perf_counter() < deadline) and len(latencies) < MAX_RUNS:
        started = time.perf_counter()
        session.run(None, batch)
        latencies.append(time.perf_counter() - started)
    timings = np.array(latencies) * 1000
    p50, p90, p99 = (float(v) for v in np.percentile(timings, [50, 90, 99]))
    return {
        "provider": provider,
        "batchSize": rows,
        "runs": len(latencies),
        "latencyMs": {"p50": p50, "p90": p90, "p99": p99, "mean": float(timings.mean())},
        "rowsPerSecond": rows * len(latencies) / float(sum(latencies)),
        "peakMemoryBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "sessionCreationMs": creation_ms,
    }
