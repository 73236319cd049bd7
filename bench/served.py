"""Sections 3 to 6 of the scoring bench, over HTTP: omlsvc (and MLServer) started as servers, per batch
size and under concurrency, JPEG uploads against raw processes, peak memory and the cold first score."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.client import OmlClient, multipart
from bench.load import LoadResult, have_wrk, run_load
from bench.models import BenchModel
from bench.plan import ADMIN_PASSWORD, Plan, Results, log
from bench.points import interleaved, mlserver_body, oml_body
from bench.raw import RawPool, make_session
from bench.report import rss_kib
from tests.e2e.server import RunningService


@dataclass
class Servers:
    """The servers under test, running: omlsvc with every model deployed, MLServer when planned."""

    service: RunningService
    oml: OmlClient
    mlserver_url: str | None = None
    mlserver_pids: Callable[[], list[int]] = list


def start_servers(
    models: dict[str, BenchModel],
    plan: Plan,
    stack: contextlib.ExitStack,
    scratch: Path,
    *,
    database_url: str | None,
    serve_from: Path | None,
) -> Servers:
    """Start omlsvc (from ``serve_from`` when given) and MLServer, closed with ``stack``."""
    from bench.mlserver import running_mlserver
    from tests.e2e.server import running_service

    log(
        f"starting omlsvc ({plan.workers} workers x {plan.threads} threads)"
        + (" and MLServer" if plan.mlserver else "")
    )
    environ = {"OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD, "OMLSVC_INTRA_OP_THREADS": str(plan.intra_op)}
    if database_url:
        environ["OMLSVC_DATABASE_URL"] = database_url
    served_from = contextlib.nullcontext() if serve_from is None else contextlib.chdir(serve_from)
    if serve_from:
        # ``python -m`` puts the working directory first on sys.path: start the server from there.
        environ["PYTHONPATH"] = os.pathsep.join([str(serve_from.resolve()), os.getcwd()])
    with served_from:
        service = stack.enter_context(
            running_service(scratch / "omlsvc", workers=plan.workers, threads=plan.threads, environ=environ)
        )
    oml = OmlClient(service.url, "admin", ADMIN_PASSWORD)
    for key, model in models.items():
        oml.deploy(oml.upload(key, model.zip_path.read_bytes(), model.model_type), key)
    servers = Servers(service, oml)
    if plan.mlserver:
        served = [(key, model.onnx_path) for key, model in models.items()]
        peer = stack.enter_context(
            running_mlserver(
                scratch / "mlserver", served, workers=plan.workers, intra_op_threads=plan.intra_op
            )
        )
        servers.mlserver_url = peer.url
        servers.mlserver_pids = peer.pids
    return servers


def summary(
    server: str, scenario: str, batch: int, concurrency: int, runs: list[LoadResult]
) -> dict[str, Any]:
    return {
        "server": server,
        "scenario": scenario,
        "batch": batch,
        "concurrency": concurrency,
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p95_ms": statistics.median(r.p95_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "req_per_s": statistics.median(r.throughput for r in runs),
        "rows_per_s": statistics.median(r.throughput for r in runs) * batch,
        "errors": sum(r.errors for r in runs),
        "requests": sum(r.requests for r in runs),
        "rounds": [r.as_dict() for r in runs],
    }


def measure_http(
    models: dict[str, BenchModel], plan: Plan, results: Results, oml: OmlClient, mlserver_url: str | None
) -> None:
    json_type = {"Content-Type": "application/json"}

    def point(
        server: str, scenario: str, batch: int, concurrency: int
    ) -> tuple[str, Callable[[], LoadResult]]:
        model = models[scenario]
        if server == "omlsvc":
            url, body, headers = oml.score_url(scenario), oml_body(model, batch), {**json_type, **oml.auth}
        else:
            assert mlserver_url is not None
            url, body, headers = (
                f"{mlserver_url}/v2/models/{scenario}/infer",
                mlserver_body(model, batch),
                json_type,
            )
        name = f"{server}|{scenario}|{batch}|{concurrency}"
        return name, lambda: run_load(
            url, body, headers, concurrency=concurrency, seconds=plan.seconds, warmup=plan.warmup
        )

    servers = ["omlsvc"] + (["mlserver"] if mlserver_url else [])
    single = [(s, "tabular", b, 1) for b in plan.tabular_batches for s in servers]
    single += [(s, "small_cnn", b, 1) for b in plan.cnn_batches for s in servers]
    sweep = [(s, "tabular", 1, c) for c in plan.concurrency if c != 1 for s in servers]
    sweep += [(s, "small_cnn", 1, 16) for s in servers]
    total = len(single) + len(sweep)
    log(
        f"HTTP: {total} points x {plan.rounds} round(s) x {plan.seconds + plan.warmup:.1f} s, load by "
        f"{'wrk' if have_wrk() else 'the asyncio client'}"
    )
    runs = interleaved([point(*spec) for spec in single + sweep], plan.rounds)
    for spec in single + sweep:
        server, scenario, batch, concurrency = spec
        results.http.append(summary(server, scenario, batch, concurrency, runs["|".join(map(str, spec))]))


def measure_images(
    models: dict[str, BenchModel],
    plan: Plan,
    results: Results,
    oml: OmlClient,
    jpeg: bytes,
    image_spec: dict[str, Any],
) -> None:
    """Images/s of JPEG uploads against ``workers`` raw processes looping preprocess + run, round by
    round (the raw loop and the service alternate, so other load on the machine hurts both alike)."""
    body, content_type = multipart({}, {"imageData": ("photo.jpg", jpeg)})
    headers = {**oml.auth, "Content-Type": content_type}
    url = oml.score_url("resnet50")
    warm_every_worker(oml, "resnet50", body, content_type, plan.workers)
    log(f"images: JPEG upload to resnet50 vs the raw loop, {plan.image_rounds} round(s)")
    results.images["omlsvc_c1"] = run_load(
        url, body, headers, concurrency=1, seconds=plan.image_seconds, warmup=plan.warmup
    ).as_dict()
    capacity: list[float] = []
    runs: dict[int, list[LoadResult]] = {plan.workers: []}
    pool = RawPool(models["resnet50"], 1, plan, jpeg, image_spec)
    try:
        for _ in range(plan.image_rounds):
            capacity.append(pool.rate(plan.image_seconds))
            for concurrency, found in runs.items():
                found.append(
                    run_load(
                        url, body, headers, concurrency=concurrency, seconds=plan.image_seconds, warmup=1.0
                    )
                )
    finally:
        pool.close()
    runs[2 * plan.workers] = [
        run_load(url, body, headers, concurrency=2 * plan.workers, seconds=plan.image_seconds, warmup=1.0)
    ]
    results.images["raw_capacity_images_per_s"] = statistics.median(capacity)
    results.images["raw_capacity_rounds"] = capacity
    results.images["ratio_rounds"] = [
        r.throughput / raw for r, raw in zip(runs[plan.workers], capacity, strict=True)
    ]
    for concurrency, found in runs.items():
        results.images[f"omlsvc_c{concurrency}"] = {
            "p50_ms": statistics.median(r.p50_ms for r in found),
            "p99_ms": statistics.median(r.p99_ms for r in found),
            "throughput": statistics.median(r.throughput for r in found),
            "errors": sum(r.errors for r in found),
            "rounds": [r.as_dict() for r in found],
        }


def warm_every_worker(oml: OmlClient, uri: str, body: bytes, content_type: str, workers: int) -> None:
    """Score on new connections until every worker has answered, so every worker has built its session."""
    seen: set[str | None] = set()
    for _ in range(20 * workers):
        seen.add(oml.score(uri, body, content_type).worker)
        if len(seen) >= workers:
            return


def measure_cold(
    models: dict[str, BenchModel], plan: Plan, results: Results, oml: OmlClient, jpeg: bytes, scratch: Path
) -> None:
    """Deploy fresh copies of ResNet (a new sha256 each: nothing is cached anywhere) and time the first
    score on the worker that handled the deploy and on another worker; right before each deploy, the
    bench itself creates a session and runs it once, three times (the median is the raw cold start)."""
    model = models["resnet50"]
    log(f"cold start: {plan.cold_deploys} fresh deployment(s) of resnet50")
    body, content_type = multipart({}, {"imageData": ("photo.jpg", jpeg)})
    deploys = []
    for index in range(plan.cold_deploys):
        zip_bytes = model.variant_zip(scratch, f"cold{index}").read_bytes()
        model_id = oml.upload(f"cold{index}", zip_bytes, model.model_type)
        raws = []
        for _ in range(3):
            started = time.perf_counter()
            session = make_session(model, plan)
            session.run(None, {model.input_name: model.batch(1)})
            raws.append(time.perf_counter() - started)
            del session
        raw = statistics.median(raws)
        deployed = oml.deploy(model_id, f"cold{index}")
        firsts: dict[str, float] = {}
        first_any = None
        for _ in range(40):
            answer = oml.score(f"cold{index}", body, content_type)
            if first_any is None:
                first_any = answer.seconds
            firsts.setdefault(answer.worker or "?", answer.seconds)
            if len(firsts) >= plan.workers:
                break
        others = [seconds for worker, seconds in firsts.items() if worker != deployed.worker]
        deploys.append(
            {
                "raw_session_and_first_run_s": raw,
                "deploy_s": deployed.seconds,
                "deploying_worker": deployed.worker,
                "first_score_s": first_any,
                "first_score_by_worker_s": firsts,
                "first_score_on_deploying_worker_s": firsts.get(deployed.worker or "?"),
                "first_score_on_other_worker_s": max(others, default=None),
                "slowest_first_score_s": max(firsts.values()),
            }
        )
    results.cold = {"deploys": deploys}


def peak_memory(pids: Sequence[int]) -> list[float]:
    peaks = []
    for pid in pids:
        with contextlib.suppress(OSError, RuntimeError):  # the process is gone
            peaks.append(rss_kib(pid, "VmHWM") / 1024)
    return peaks
