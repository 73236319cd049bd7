"""The hot path of a batch-1 tabular score request, in-process: the WSGI app with every middleware
(metrics, request context, forwarded headers, authentication), JSON in and out, the scoring service
and onnxruntime, called directly as gunicorn would call it, with no socket and no HTTP parser.

It prints microseconds per request, wall and CPU time of this process (medians of rounds; on a busy
machine the CPU time is the steadier figure), next to ``session.run`` alone on the same row; ``--profile`` prints where that time goes
(cProfile, sorted by own time). ``--serve-from DIR`` imports omlsvc from another source tree, to
compare before and after a change in the same conditions (run it twice, alternately). ``--v2``
also sends the same row to the Open Inference Protocol's ``POST /v2/models/{name}/infer`` (JSON
tensors, the probability output asked for, as ``bench.oip`` does), round by round in turn with the
OML score request, and prints both with their ratio (``--profile`` then profiles the ``/v2`` one).

    python -m bench.hotpath [--requests 3000] [--rounds 5] [--profile] [--serve-from DIR] [--v2]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # bench.models imports numpy: not before OMP_NUM_THREADS is set, see main
    from bench.models import BenchModel

ADMIN_PASSWORD = "hotpath-admin-password"


@dataclass
class Figures:
    """Microseconds per request, one value a round: wall and CPU time of the OML score request and of
    ``/v2`` infer (with ``--v2``), wall time of ``session.run`` alone on the same row."""

    service_us: list[float] = field(default_factory=list)
    service_cpu_us: list[float] = field(default_factory=list)
    v2_us: list[float] = field(default_factory=list)
    v2_cpu_us: list[float] = field(default_factory=list)
    raw_us: list[float] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--serve-from", type=Path, default=None, help="a source tree holding omlsvc/")
    parser.add_argument("--v2", action="store_true", help="also /v2 infer with JSON tensors, in turn")
    return parser.parse_args(argv)


def serve_tabular(folder: Path, model: BenchModel) -> tuple[Any, dict[str, str]]:
    """The WSGI app with every middleware, on test settings in ``folder``, with ``model`` stored and
    deployed at ``tabular``; and the admin's ``Authorization`` header."""
    import falcon.testing

    from omlsvc.config import Settings
    from omlsvc.db.setup import init_schema
    from omlsvc.rest.app import create_app
    from omlsvc.wiring import build_services

    settings = Settings.for_tests(folder / "data", workers=2)
    services = build_services(settings)
    init_schema(services.engine)
    services.auth.ensure_admin(ADMIN_PASSWORD)
    app = create_app(settings, services=services)
    client = falcon.testing.TestClient(app)
    token = client.simulate_post(
        "/omlusers/api/oauth2/v1/token",
        json={"grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD},
    ).json["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    with model.zip_path.open("rb") as handle:
        body, content_type = _form(handle.read())
    stored = client.simulate_post(
        "/omlmod/v1/models", body=body, headers={**auth, "Content-Type": content_type}
    )
    assert stored.status_code == 201, stored.text
    deployed = client.simulate_post(
        "/omlmod/v1/deployment", json={"modelId": stored.json["modelId"], "uri": "tabular"}, headers=auth
    )
    assert deployed.status_code == 201, deployed.text
    return app, auth


def request(app: Any, path: str, auth: dict[str, str], payload: bytes) -> Callable[[], None]:
    """One JSON ``POST path`` called as gunicorn calls the app (a WSGI environ, ``start_response``),
    with no socket and no HTTP parser; an answer other than 200 ends the bench."""
    import falcon.testing

    environ = falcon.testing.create_environ(
        path=path,
        method="POST",
        headers={**auth, "Content-Type": "application/json", "Content-Length": str(len(payload))},
    )

    def one() -> None:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(payload)
        status: list[str] = []
        chunks = app(env, lambda s, h, e=None: status.append(s))
        b"".join(chunks)
        if not status[0].startswith("200"):
            raise SystemExit(f"{env['PATH_INFO']} answered {status[0]}")

    return one


def score_requests(
    app: Any, auth: dict[str, str], model: BenchModel
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The OML score request of ``model``'s row and ``/v2`` infer of the same row (JSON tensors, the
    probability output asked for, as ``bench.oip`` does)."""
    import orjson

    payload = orjson.dumps({"inputRecords": [{model.input_name: model.row.tolist()}]})
    v2_payload = orjson.dumps(
        {
            "inputs": [
                {
                    "name": model.input_name,
                    "shape": list(model.row.shape),
                    "datatype": "FP32",
                    "data": model.row.ravel().tolist(),
                }
            ],
            "outputs": [{"name": model.output_names[-1]}],
        }
    )
    return (
        request(app, "/omlmod/v1/deployment/tabular/score", auth, payload),
        request(app, "/v2/models/tabular/infer", auth, v2_payload),
    )


def per_request_us(
    call: Callable[[], None], requests: int, profiler: cProfile.Profile | None
) -> tuple[float, float]:
    """Wall and CPU microseconds per call of ``requests`` calls, under ``profiler`` if given."""
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    for _ in range(requests):
        call()
    if profiler is not None:
        profiler.disable()
    return (time.perf_counter() - started) / requests * 1e6, (time.process_time() - cpu) / requests * 1e6


def session_run_us(session: Any, input_name: str, row: Any, requests: int) -> float:
    """Wall microseconds per ``session.run`` on ``row``, ``requests`` times."""
    started = time.perf_counter()
    for _ in range(requests):
        session.run(None, {input_name: row})
    return (time.perf_counter() - started) / requests * 1e6


def time_rounds(
    args: argparse.Namespace, model: BenchModel, one: Callable[[], None], one_v2: Callable[[], None]
) -> tuple[Figures, cProfile.Profile | None]:
    """After 200 warm-up requests, ``--rounds`` rounds of ``--requests`` calls each: the OML score
    request, ``/v2`` infer (with ``--v2``), then ``session.run`` alone, in turn, so that load from
    elsewhere hurts each alike. ``--profile`` profiles the ``/v2`` calls with ``--v2``, the OML ones
    otherwise."""
    import numpy as np
    import onnxruntime as ort

    for _ in range(200):
        one()
        if args.v2:
            one_v2()
    session = ort.InferenceSession(str(model.onnx_path), providers=["CPUExecutionProvider"])
    row = np.asarray(model.row, dtype=np.float32)
    figures = Figures()
    profiler = cProfile.Profile() if args.profile else None
    for _ in range(args.rounds):
        wall, cpu = per_request_us(one, args.requests, None if args.v2 else profiler)
        figures.service_us.append(wall)
        figures.service_cpu_us.append(cpu)
        if args.v2:
            wall, cpu = per_request_us(one_v2, args.requests, profiler)
            figures.v2_us.append(wall)
            figures.v2_cpu_us.append(cpu)
        figures.raw_us.append(session_run_us(session, model.input_name, row, args.requests))
    return figures, profiler


def measure(args: argparse.Namespace) -> tuple[Figures, cProfile.Profile | None]:
    """Every round's figures, in a scratch folder that the model and the app's data live in."""
    from bench.models import _tabular

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = _tabular(folder)
        app, auth = serve_tabular(folder, model)
        one, one_v2 = score_requests(app, auth, model)
        return time_rounds(args, model, one, one_v2)


def report(args: argparse.Namespace, figures: Figures) -> None:
    """The medians of the rounds, with the CPU time of each round and the load average beside them."""
    import omlsvc

    service, raw = statistics.median(figures.service_us), statistics.median(figures.raw_us)
    cpu_median = statistics.median(figures.service_cpu_us)
    print(
        f"omlsvc from {Path(omlsvc.__file__).parent}: {service:.1f} us wall, {cpu_median:.1f} us CPU per "
        f"batch-1 request in-process (CPU by round: {', '.join(f'{v:.0f}' for v in figures.service_cpu_us)}); "
        f"session.run alone {raw:.1f} us wall; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    if args.v2:
        v2_cpu = statistics.median(figures.v2_cpu_us)
        print(
            f"/v2 infer (JSON tensors, same row): {statistics.median(figures.v2_us):.1f} us wall, {v2_cpu:.1f} us "
            f"CPU per request (CPU by round: {', '.join(f'{v:.0f}' for v in figures.v2_cpu_us)}); "
            f"v2 / OML CPU {v2_cpu / cpu_median:.2f}x"
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve_from is not None:
        sys.path.insert(0, str(args.serve_from.resolve()))
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and onnxruntime are first imported
    figures, profiler = measure(args)
    report(args, figures)
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(30)


def _form(zip_bytes: bytes) -> tuple[bytes, str]:
    from bench.client import multipart

    fields: dict[str, Any] = {"modelName": "tabular", "version": "1", "modelType": "ONNX"}
    return multipart(fields, {"modelData": ("model.zip", zip_bytes)})


if __name__ == "__main__":
    main()
