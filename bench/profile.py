"""A profile's rows per second beside a plain ``session.run`` loop on the same model and batch.

Issue 15: the figures a profile task records must be what a user measuring by hand would see. This
runs a real profile task (a temporary SQLite service: store the model, queue the profile, let a task
worker run it in its isolated child) and, in the same run, times a plain loop of ``session.run`` on
the same model with the same synthetic batch, for as long, then prints both and their ratio. They
should agree within 25 %. Each batch size gets a profile task of its own, bracketed by a plain loop
before and one after (their mean is the reference), so load that drifts during the run (a shared CI
host) moves both alike; both use ``--threads`` intra-op threads (default 1: steady on a busy host).

    python -m bench.profile [--model cnn|mlp] [--batch-sizes 1,8,64] [--seconds 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import onnxruntime

from bench.report import markdown_table, save
from omlsvc.config import Settings
from omlsvc.core.authorization import Principal
from omlsvc.core.signature import ImageSpec
from omlsvc.db.setup import init_schema
from omlsvc.repository.form import parse_model_form
from omlsvc.tasks.samples import synthetic_inputs
from omlsvc.wiring import build_admin_services, build_task_worker
from tests import modelzoo

AGREEMENT = 0.25


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--batch-sizes", default="1,8,64")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    options = onnxruntime.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    rows: list[tuple[object, ...]] = []
    profiled: list[dict[str, Any]] = []
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        make = modelzoo.make_cnn_zip if args.model == "cnn" else modelzoo.make_mlp_classifier_zip
        zoo = make(Path(folder))
        session = onnxruntime.InferenceSession(zoo.onnx_bytes, options, providers=["CPUExecutionProvider"])
        image = None
        if zoo.image_png is not None:
            size = modelzoo.IMAGE_SIZE
            image = ImageSpec("image", size, size, 3, tuple(modelzoo.IMAGE_MEAN), tuple(modelzoo.IMAGE_SCALE))
        service = BenchService(Path(folder) / "data", zoo, args.threads)
        try:
            for rows_per_batch in sizes:
                batch = synthetic_inputs(session.get_inputs(), rows_per_batch, image=image)
                before = plain_loop(session, batch, rows_per_batch, args.seconds)
                (figures,) = service.profile([rows_per_batch], args.seconds)
                after = plain_loop(session, batch, rows_per_batch, args.seconds)
                profiled.append(figures)
                plain = (before + after) / 2
                ratio = figures["rowsPerSecond"] / plain
                worst = max(worst, abs(ratio - 1))
                rows.append(
                    (
                        rows_per_batch,
                        f"{figures['rowsPerSecond']:.0f}",
                        f"{plain:.0f} ({before:.0f}, {after:.0f})",
                        f"{ratio:.2f}",
                        f"{figures['latencyMs']['p50']:.3f}",
                    )
                )
        finally:
            service.close()
    headers = ("batch", "profile rows/s", "session.run rows/s (before, after)", "ratio", "profile p50 ms")
    print(markdown_table(headers, rows))
    verdict = "agree" if worst <= AGREEMENT else "DISAGREE"
    print(f"\nlargest difference {worst:.0%}: {verdict} (within {AGREEMENT:.0%} expected)")
    save("profile", {"model": args.model, "seconds": args.seconds, "profile": profiled, "rows": rows})
    return 0 if worst <= AGREEMENT else 1


class BenchService:
    """A temporary SQLite service holding the model, whose profile tasks a task worker runs."""

    def __init__(self, data_dir: Path, zoo: modelzoo.ZooModel, threads: int) -> None:
        self.services = build_admin_services(Settings.for_tests(data_dir, intra_op_threads=threads))
        init_schema(self.services.engine)
        self.services.auth.add_user("bench", "bench-password-123", "admin")
        self.principal = Principal("bench", ("admin",))
        model_type = "ONNX_IMG" if zoo.image_png is not None else "ONNX"
        form = parse_model_form({"modelName": "bench", "version": "1", "modelType": model_type})
        with zoo.zip_path.open("rb") as handle:
            upload = self.services.models.receive_upload(handle)
        self.model_id = self.services.models.store_model(self.principal, form, upload).id
        self.services.models.discard_upload(upload)
        self.worker = build_task_worker(self.services, "bench")

    def profile(self, sizes: list[int], seconds: float) -> list[dict[str, Any]]:
        """The ``results`` of one profile task, run to its end here."""
        body = {"batchSizes": sizes, "seconds": seconds, "providers": ["CPUExecutionProvider"]}
        task = self.services.tasks.submit_profile(self.principal, self.model_id, body)
        while self.worker.work_once():
            pass
        done = self.services.tasks.get_task(self.principal, task.id)
        if done.status != "SUCCEEDED":
            print(f"the profile task ended {done.status}: {done.message}", file=sys.stderr)
            raise SystemExit(2)
        return list(json.loads(done.result or "{}")["results"])

    def close(self) -> None:
        self.services.engine.dispose()


def plain_loop(
    session: onnxruntime.InferenceSession, batch: dict[str, Any], rows: int, seconds: float
) -> float:
    """Rows per second of ``session.run`` back to back for ``seconds`` after one warm-up run."""
    session.run(None, batch)
    runs, spent = 0, 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or runs < 5:
        started = time.perf_counter()
        session.run(None, batch)
        spent += time.perf_counter() - started
        runs += 1
    return rows * runs / spent


if __name__ == "__main__":
    raise SystemExit(main())
