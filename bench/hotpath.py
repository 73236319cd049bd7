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
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--serve-from", type=Path, default=None, help="a source tree holding omlsvc/")
    parser.add_argument("--v2", action="store_true", help="also /v2 infer with JSON tensors, in turn")
    args = parser.parse_args()
    if args.serve_from is not None:
        sys.path.insert(0, str(args.serve_from.resolve()))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import falcon.testing
    import numpy as np
    import onnxruntime as ort
    import orjson

    import omlsvc
    from bench.models import _tabular
    from omlsvc.config import Settings
    from omlsvc.db.setup import init_schema
    from omlsvc.rest.app import create_app
    from omlsvc.wiring import build_services

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = _tabular(folder)
        settings = Settings.for_tests(folder / "data", workers=2)
        services = build_services(settings)
        init_schema(services.engine)
        services.auth.ensure_admin("hotpath-admin-password")
        app = create_app(settings, services=services)
        client = falcon.testing.TestClient(app)
        token = client.simulate_post(
            "/omlusers/api/oauth2/v1/token",
            json={"grant_type": "password", "username": "admin", "password": "hotpath-admin-password"},
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
        payload = orjson.dumps({"inputRecords": [{model.input_name: model.row.tolist()}]})
        environ = falcon.testing.create_environ(
            path="/omlmod/v1/deployment/tabular/score",
            method="POST",
            headers={**auth, "Content-Type": "application/json", "Content-Length": str(len(payload))},
        )

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
        v2_environ = falcon.testing.create_environ(
            path="/v2/models/tabular/infer",
            method="POST",
            headers={**auth, "Content-Type": "application/json", "Content-Length": str(len(v2_payload))},
        )

        def call(environ: dict[str, Any], payload: bytes) -> None:
            env = dict(environ)
            env["wsgi.input"] = io.BytesIO(payload)
            status: list[str] = []
            chunks = app(env, lambda s, h, e=None: status.append(s))
            b"".join(chunks)
            if not status[0].startswith("200"):
                raise SystemExit(f"{env['PATH_INFO']} answered {status[0]}")

        def one() -> None:
            call(environ, payload)

        def one_v2() -> None:
            call(v2_environ, v2_payload)

        for _ in range(200):
            one()
            if args.v2:
                one_v2()
        session = ort.InferenceSession(str(model.onnx_path), providers=["CPUExecutionProvider"])
        row = np.asarray(model.row, dtype=np.float32)
        service_us, service_cpu_us, raw_us = [], [], []
        v2_us, v2_cpu_us = [], []
        profiler = cProfile.Profile() if args.profile else None
        for _ in range(args.rounds):
            started, cpu = time.perf_counter(), time.process_time()
            if profiler is not None and not args.v2:
                profiler.enable()
            for _ in range(args.requests):
                one()
            if profiler is not None and not args.v2:
                profiler.disable()
            service_us.append((time.perf_counter() - started) / args.requests * 1e6)
            service_cpu_us.append((time.process_time() - cpu) / args.requests * 1e6)
            if args.v2:
                started, cpu = time.perf_counter(), time.process_time()
                if profiler is not None:
                    profiler.enable()
                for _ in range(args.requests):
                    one_v2()
                if profiler is not None:
                    profiler.disable()
                v2_us.append((time.perf_counter() - started) / args.requests * 1e6)
                v2_cpu_us.append((time.process_time() - cpu) / args.requests * 1e6)
            started = time.perf_counter()
            for _ in range(args.requests):
                session.run(None, {model.input_name: row})
            raw_us.append((time.perf_counter() - started) / args.requests * 1e6)
    service, raw = statistics.median(service_us), statistics.median(raw_us)
    cpu_median = statistics.median(service_cpu_us)
    print(
        f"omlsvc from {Path(omlsvc.__file__).parent}: {service:.1f} us wall, {cpu_median:.1f} us CPU per "
        f"batch-1 request in-process (CPU by round: {', '.join(f'{v:.0f}' for v in service_cpu_us)}); "
        f"session.run alone {raw:.1f} us wall; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    if args.v2:
        v2_cpu = statistics.median(v2_cpu_us)
        print(
            f"/v2 infer (JSON tensors, same row): {statistics.median(v2_us):.1f} us wall, {v2_cpu:.1f} us CPU "
            f"per request (CPU by round: {', '.join(f'{v:.0f}' for v in v2_cpu_us)}); "
            f"v2 / OML CPU {v2_cpu / cpu_median:.2f}x"
        )
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(30)


def _form(zip_bytes: bytes) -> tuple[bytes, str]:
    from bench.client import multipart

    fields: dict[str, Any] = {"modelName": "tabular", "version": "1", "modelType": "ONNX"}
    return multipart(fields, {"modelData": ("model.zip", zip_bytes)})


if __name__ == "__main__":
    main()
