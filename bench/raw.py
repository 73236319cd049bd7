"""Raw onnxruntime, no service: the latency of ``session.run`` on one stream and the capacity of
``workers`` processes looping it. The floor and the ceiling the scoring bench holds omlsvc against."""

from __future__ import annotations

import io
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.models import BenchModel
from bench.plan import Plan


@dataclass
class Timing:
    """Latencies of repeated calls: p50/p99 in ms and the rate they imply for one stream."""

    samples: list[float]
    rows: int

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.samples, 50) * 1000)

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.samples, 99) * 1000)

    @property
    def rows_per_s(self) -> float:
        return self.rows * len(self.samples) / sum(self.samples)

    def as_dict(self) -> dict[str, float]:
        return {
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "rows_per_s": self.rows_per_s,
            "calls": len(self.samples),
        }


def time_calls(fn: Callable[[], object], rows: int, seconds: float, *, min_calls: int = 20) -> Timing:
    for _ in range(3):
        fn()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < min_calls or time.perf_counter() < deadline:
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return Timing(samples, rows)


def make_session(model: BenchModel, plan: Plan) -> Any:
    import onnxruntime as ort

    from omlsvc.scoring.session_options import make_session_options

    return ort.InferenceSession(
        str(model.onnx_path),
        sess_options=make_session_options(plan.intra_op, workers=plan.workers),
        providers=["CPUExecutionProvider"],
    )


def _capacity_worker(job: dict[str, Any], commands: Any, results: Any) -> None:
    """One of ``workers`` processes looping raw work on command (spawned: sessions do not survive a
    fork). Each command is ``(start_at, seconds)``; ``None`` ends the process."""
    import onnxruntime as ort

    from omlsvc.scoring.session_options import make_session_options

    options = make_session_options(job["intra_op"], workers=job["workers"])
    session = ort.InferenceSession(job["onnx"], sess_options=options, providers=["CPUExecutionProvider"])
    preprocess = None
    if job.get("image_spec"):
        from omlsvc.core.signature import ImageSpec
        from omlsvc.scoring.images import ImagePreprocessor

        preprocess = ImagePreprocessor(ImageSpec.from_dict(job["image_spec"])).preprocess
    feed = np.load(io.BytesIO(job["feed"]))
    jpeg: bytes | None = job.get("jpeg")

    def once() -> None:
        x = preprocess(jpeg) if preprocess is not None and jpeg is not None else feed
        session.run(None, {job["input"]: x})

    for _ in range(3):
        once()
    results.put("ready")
    while (command := commands.get()) is not None:
        start_at, seconds = command
        while time.time() < start_at:
            time.sleep(0.001)
        done = 0
        started = time.perf_counter()
        stop = started + seconds
        while time.perf_counter() < stop:
            once()
            done += 1
        results.put((done, time.perf_counter() - started))


class RawPool:
    """``workers`` processes doing the raw work (``session.run``, or preprocess + run for images) with
    the sessions' thread settings: the capacity any server on this machine could reach at best. Kept
    alive between rounds, so that rounds can alternate with the servers' cheaply."""

    def __init__(
        self,
        model: BenchModel,
        batch: int,
        plan: Plan,
        jpeg: bytes | None = None,
        image_spec: dict[str, Any] | None = None,
    ) -> None:
        buffer = io.BytesIO()
        np.save(buffer, model.batch(batch))
        job = {
            "onnx": str(model.onnx_path),
            "input": model.input_name,
            "feed": buffer.getvalue(),
            "intra_op": plan.intra_op,
            "workers": plan.workers,
            "jpeg": jpeg,
            "image_spec": image_spec,
        }
        context = multiprocessing.get_context("spawn")
        self._batch = batch
        self._commands = context.Queue()
        self._results = context.Queue()
        self._processes = [
            context.Process(target=_capacity_worker, args=(job, self._commands, self._results), daemon=True)
            for _ in range(plan.workers)
        ]
        for process in self._processes:
            process.start()
        for _ in self._processes:
            self._results.get(timeout=300)

    def rate(self, seconds: float) -> float:
        """Rows per second of all processes together, looping for ``seconds`` from the same moment."""
        start_at = time.time() + 0.2
        for _ in self._processes:
            self._commands.put((start_at, seconds))
        done = [self._results.get(timeout=seconds + 120) for _ in self._processes]
        return sum(count * self._batch / elapsed for count, elapsed in done)

    def close(self) -> None:
        for _ in self._processes:
            self._commands.put(None)
        for process in self._processes:
            process.join(timeout=30)


def raw_capacity(model: BenchModel, batch: int, plan: Plan, seconds: float) -> float:
    pool = RawPool(model, batch, plan)
    try:
        return pool.rate(seconds)
    finally:
        pool.close()
