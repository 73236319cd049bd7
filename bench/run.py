"""The scoring bench (issue 7): omlsvc against the physical limit (onnxruntime alone) and against
Seldon MLServer 1.7, all measured in one run on one machine with the same worker and thread counts.

    python -m bench [--quick] [--workers 2] [--threads 4] [--no-mlserver] [--no-resnet]

Sections, in the order they run:

1. raw ``session.run``: p50/p99 and rows/s per batch size on one stream (one session, the intra-op
   threads an omlsvc worker gives its sessions: cores / workers), and the capacity of ``workers``
   such processes running at once (the ceiling for any server's throughput);
2. the scoring service in-process: authenticate + parse JSON + score + render JSON, no HTTP;
3. omlsvc over HTTP on loopback, one connection, per batch size, next to MLServer;
4. omlsvc and MLServer under closed-loop concurrency 1, 4, 16, 64 (p50/p95/p99, throughput, errors);
5. image scoring: a 3 MP JPEG uploaded to a ResNet-50-sized model, end to end, against a loop of
   omlsvc's own preprocessing plus ``session.run`` with the same threads;
6. peak worker memory, and the cold first score after a deploy (against creating a session and
   running it once).

Measurements of omlsvc and MLServer alternate (round by round), so that anything else running on
the machine hurts both alike; a point's figures are the medians over its rounds. Results are printed
as Markdown tables and saved as JSON under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.client import OmlClient, multipart
from bench.load import LoadResult, have_wrk, run_load
from bench.models import BenchModel, build_models, make_jpeg
from bench.report import markdown_table, rss_kib, save

ADMIN_PASSWORD = "admin-password-for-bench"


@dataclass(frozen=True)
class Plan:
    workers: int
    threads: int
    seconds: float
    warmup: float
    rounds: int
    tabular_batches: tuple[int, ...]
    cnn_batches: tuple[int, ...]
    concurrency: tuple[int, ...]
    cold_deploys: int
    image_seconds: float
    image_rounds: int
    mlserver: bool
    resnet: bool

    @property
    def intra_op(self) -> int:
        from omlsvc.scoring.session_options import default_intra_op_threads

        return default_intra_op_threads(self.workers)


def make_plan(args: argparse.Namespace) -> Plan:
    quick = args.quick
    return Plan(
        workers=args.workers,
        threads=args.threads,
        seconds=args.seconds or (1.5 if quick else 3.0),
        warmup=0.5 if quick else 1.0,
        rounds=args.rounds or (1 if quick else 3),
        tabular_batches=(1, 64) if quick else (1, 8, 64, 512),
        cnn_batches=(1, 8) if quick else (1, 8, 32),
        concurrency=(1, 4, 16, 64),
        cold_deploys=1 if quick else 3,
        image_seconds=3.0 if quick else 5.0,
        image_rounds=1 if quick else 4,
        mlserver=not args.no_mlserver,
        resnet=not args.no_resnet,
    )


# --- measurements ------------------------------------------------------------------------------------


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
    jpeg = job.get("jpeg")

    def once() -> None:
        x = preprocess(jpeg) if preprocess is not None else feed
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


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class Results:
    raw: dict[str, Any] = field(default_factory=dict)
    inprocess: dict[str, Any] = field(default_factory=dict)
    http: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, Any] = field(default_factory=dict)
    cold: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def oml_body(model: BenchModel, batch: int) -> bytes:
    return orjson.dumps({"inputRecords": [{model.input_name: model.batch(batch).tolist()}]})


def mlserver_body(model: BenchModel, batch: int) -> bytes:
    array = model.batch(batch)
    return orjson.dumps(
        {
            "inputs": [
                {
                    "name": model.input_name,
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "data": array.ravel().tolist(),
                }
            ]
        }
    )


def measure_raw(models: dict[str, BenchModel], plan: Plan, results: Results, jpeg: bytes | None) -> None:
    log(
        f"raw onnxruntime: {plan.intra_op} intra-op thread(s) per session, {plan.workers} process(es) for capacity"
    )
    for key, batches in (("tabular", plan.tabular_batches), ("small_cnn", plan.cnn_batches)):
        model = models[key]
        session = make_session(model, plan)
        for batch in batches:
            feed = {model.input_name: model.batch(batch)}
            timing = time_calls(lambda s=session, f=feed: s.run(None, f), batch, min(plan.seconds, 2.0))
            results.raw[f"{key}/{batch}"] = timing.as_dict()
        results.raw[f"{key}/1"]["capacity_rows_per_s"] = raw_capacity(model, 1, plan, plan.seconds)
    if plan.resnet:
        model = models["resnet50"]
        session = make_session(model, plan)
        feed = {model.input_name: model.batch(1)}
        results.raw["resnet50/1"] = time_calls(
            lambda: session.run(None, feed), 1, plan.seconds, min_calls=10
        ).as_dict()


def measure_inprocess(
    models: dict[str, BenchModel], plan: Plan, results: Results, scratch: Path, jpeg: bytes | None
) -> dict[str, Any]:
    """Section 2: the service without HTTP. Returns the image spec omlsvc derived for ResNet."""
    import falcon.testing

    from omlsvc.config import Settings
    from omlsvc.core.signature import ScoringSpec
    from omlsvc.db.engine import make_engine
    from omlsvc.db.setup import init_schema
    from omlsvc.rest.app import create_app
    from omlsvc.wiring import build_services

    log("scoring service in-process (no HTTP)")
    data = scratch / "inprocess"
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{data / 'omlsvc.db'}",
        jwt_secret="bench-" + "x" * 40,
        workers=plan.workers,
        threads=plan.threads,
    )
    engine = make_engine(settings.database_url)
    init_schema(engine)
    services = build_services(settings, engine=engine)
    services.auth.add_user("admin", ADMIN_PASSWORD, "admin")
    client = falcon.testing.TestClient(create_app(settings, services=services))
    token = services.auth.login("admin", ADMIN_PASSWORD).access_token
    auth = {"Authorization": f"Bearer {token}"}
    image_spec: dict[str, Any] = {}
    for key, model in models.items():
        body, content_type = multipart(
            {"modelName": key, "modelType": model.model_type, "version": "1.0"},
            {"modelData": ("m.zip", model.zip_path.read_bytes())},
        )
        stored = client.simulate_post(
            "/omlmod/v1/models", body=body, headers={**auth, "Content-Type": content_type}
        )
        assert stored.status_code == 201, stored.text
        deployed = client.simulate_post(
            "/omlmod/v1/deployment", json={"modelId": stored.json["modelId"], "uri": key}, headers=auth
        )
        assert deployed.status_code == 201, deployed.text
        if key == "resnet50":
            record = services.deployments.get_deployment(services.auth.authenticate(token), key)
            spec = ScoringSpec.from_json(record.model.spec_json)
            assert spec.image is not None
            image_spec = dataclasses.asdict(spec.image)

    def records_call(key: str, body: bytes) -> Callable[[], object]:
        def once() -> bytes:
            principal = services.auth.authenticate(token)
            scored = services.scoring.score_records(principal, key, orjson.loads(body))
            return orjson.dumps({"scoringResults": scored}, option=orjson.OPT_SERIALIZE_NUMPY)

        return once

    for key, batches in (("tabular", plan.tabular_batches), ("small_cnn", plan.cnn_batches)):
        for batch in batches:
            timing = time_calls(
                records_call(key, oml_body(models[key], batch)), batch, min(plan.seconds, 2.0)
            )
            results.inprocess[f"{key}/{batch}"] = timing.as_dict()
    if plan.resnet and jpeg is not None:

        def image_once() -> bytes:
            principal = services.auth.authenticate(token)
            scored = services.scoring.score_images(principal, "resnet50", [jpeg], None)
            return orjson.dumps({"scoringResults": scored}, option=orjson.OPT_SERIALIZE_NUMPY)

        results.inprocess["resnet50/jpeg"] = time_calls(image_once, 1, plan.seconds, min_calls=10).as_dict()
    engine.dispose()
    return image_spec


def measure_images_raw_stream(
    models: dict[str, BenchModel], plan: Plan, results: Results, jpeg: bytes, image_spec: dict[str, Any]
) -> None:
    """One stream of omlsvc's own preprocessing + ``session.run``: the latency floor for an upload."""
    from omlsvc.core.signature import ImageSpec
    from omlsvc.scoring.images import ImagePreprocessor

    log("raw image loop: decode + preprocess + run")
    model = models["resnet50"]
    session = make_session(model, plan)
    preprocessor = ImagePreprocessor(ImageSpec.from_dict(image_spec))
    results.images["preprocess_only"] = time_calls(lambda: preprocessor.preprocess(jpeg), 1, 2.0).as_dict()
    results.images["raw_loop"] = time_calls(
        lambda: session.run(None, {model.input_name: preprocessor.preprocess(jpeg)}),
        1,
        plan.seconds,
        min_calls=10,
    ).as_dict()


def interleaved(
    points: Sequence[tuple[str, Callable[[], LoadResult]]], rounds: int
) -> dict[str, list[LoadResult]]:
    """Run every point once per round, reversing the order every other round."""
    runs: dict[str, list[LoadResult]] = {name: [] for name, _ in points}
    for round_ in range(rounds):
        order = points if round_ % 2 == 0 else list(reversed(points))
        for name, measure in order:
            runs[name].append(measure())
    return runs


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


# --- reporting -----------------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def render(results: Results, plan: Plan) -> str:
    out: list[str] = []
    raw = results.raw
    out.append(f"### 1. Raw onnxruntime (`session.run`, {plan.intra_op} intra-op thread(s) per session)\n")
    rows = []
    for key, value in raw.items():
        model, batch = key.split("/")
        rows.append(
            [
                model,
                batch,
                value["p50_ms"],
                value["p99_ms"],
                value["rows_per_s"],
                value.get("capacity_rows_per_s", "-"),
            ]
        )
    out.append(
        markdown_table(
            ["model", "batch", "p50 ms", "p99 ms", "rows/s, 1 stream", f"rows/s, {plan.workers} processes"],
            rows,
        )
    )

    out.append("\n### 2. Scoring service in-process (auth + JSON parse + score + JSON render, no HTTP)\n")
    rows = []
    for key, value in results.inprocess.items():
        model, batch = key.split("/")
        raw_rate = raw.get(key, {}).get("rows_per_s")
        rows.append(
            [
                model,
                batch,
                value["p50_ms"],
                value["p99_ms"],
                value["rows_per_s"],
                _ratio(value["rows_per_s"], raw_rate),
            ]
        )
    out.append(markdown_table(["model", "batch", "p50 ms", "p99 ms", "rows/s", "x raw"], rows))

    by_key = {(r["server"], r["scenario"], r["batch"], r["concurrency"]): r for r in results.http}

    def http_rows(filter_: Callable[[dict[str, Any]], bool]) -> list[list[object]]:
        rows = []
        for r in results.http:
            if not filter_(r):
                continue
            key = f"{r['scenario']}/{r['batch']}"
            if r["concurrency"] == 1:
                raw_rate = raw.get(key, {}).get("rows_per_s")
            else:
                raw_rate = raw.get(key, {}).get("capacity_rows_per_s")
            peer = by_key.get(("mlserver", r["scenario"], r["batch"], r["concurrency"]))
            rows.append(
                [
                    r["scenario"],
                    r["server"],
                    r["batch"],
                    r["concurrency"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["p99_ms"],
                    r["req_per_s"],
                    r["rows_per_s"],
                    r["errors"],
                    _ratio(r["rows_per_s"], raw_rate),
                    _ratio(r["rows_per_s"], peer["rows_per_s"])
                    if peer and r["server"] != "mlserver"
                    else "-",
                ]
            )
        return rows

    headers = [
        "model",
        "server",
        "batch",
        "conc.",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "req/s",
        "rows/s",
        "errors",
        "x raw",
        "x MLServer",
    ]
    out.append("\n### 3. Over HTTP on loopback, one connection\n")
    out.append(markdown_table(headers, http_rows(lambda r: r["concurrency"] == 1)))
    out.append(
        f"\n### 4. Under concurrency (closed loop, {plan.workers} workers; x raw = against "
        f"{plan.workers} raw processes)\n"
    )
    out.append(
        markdown_table(
            headers,
            http_rows(lambda r: r["concurrency"] > 1 or (r["batch"] == 1 and r["scenario"] == "tabular")),
        )
    )

    if results.images:
        img = results.images
        raw_lat = img.get("raw_loop", {})
        capacity = img.get("raw_capacity_images_per_s")
        out.append("\n### 5. Image scoring: 3 MP JPEG upload to the ResNet-50-sized model\n")
        rows = [
            [
                "raw loop: preprocess + run, 1 process",
                1,
                raw_lat.get("p50_ms"),
                raw_lat.get("p99_ms"),
                raw_lat.get("rows_per_s"),
                "1.00x",
            ],
            [f"raw loop, {plan.workers} processes", plan.workers, "-", "-", capacity, "1.00x"],
        ]
        inproc = results.inprocess.get("resnet50/jpeg")
        if inproc:
            rows.append(
                [
                    "omlsvc in-process (no HTTP)",
                    1,
                    inproc["p50_ms"],
                    inproc["p99_ms"],
                    inproc["rows_per_s"],
                    _ratio(inproc["rows_per_s"], raw_lat.get("rows_per_s")),
                ]
            )
        for name, label in (
            ("omlsvc_c1", 1),
            (f"omlsvc_c{plan.workers}", plan.workers),
            (f"omlsvc_c{2 * plan.workers}", 2 * plan.workers),
        ):
            if name in img:
                r = img[name]
                base = raw_lat.get("rows_per_s") if label == 1 else capacity
                rows.append(
                    [
                        f"omlsvc over HTTP, concurrency {label}",
                        label,
                        r["p50_ms"],
                        r["p99_ms"],
                        r["throughput"],
                        _ratio(r["throughput"], base),
                    ]
                )
        out.append(markdown_table(["what", "streams", "p50 ms", "p99 ms", "images/s", "x raw"], rows))
        if "preprocess_only" in img:
            out.append(
                f"\n(decode + preprocess alone: p50 {img['preprocess_only']['p50_ms']:.1f} ms per image)"
            )

    if results.memory or results.cold:
        out.append("\n### 6. Peak memory and cold start\n")
        rows = []
        for server, peaks in results.memory.items():
            rows.append([f"peak RSS, {server}", ", ".join(f"{p:.0f} MiB" for p in peaks)])
        out.append(markdown_table(["what", "value"], rows))
        if results.cold:
            out.append(
                "\nCold start of a freshly deployed ResNet-50-sized model (x raw = against creating a session and "
                "running it once in the bench process just before):\n"
            )
            cold_rows = []
            for i, d in enumerate(results.cold["deploys"]):
                raw_cold = d["raw_session_and_first_run_s"]
                same, other = d["first_score_on_deploying_worker_s"], d["first_score_on_other_worker_s"]
                cold_rows.append(
                    [
                        i + 1,
                        raw_cold * 1000,
                        d["deploy_s"] * 1000,
                        f"{same * 1000:,.0f} ({_ratio(same, raw_cold)})" if same else "-",
                        f"{other * 1000:,.0f} ({_ratio(other, raw_cold)})" if other else "-",
                    ]
                )
            out.append(
                markdown_table(
                    [
                        "deploy",
                        "raw create + run ms",
                        "deploy call ms",
                        "first score ms, deploying worker",
                        "first score ms, other worker",
                    ],
                    cold_rows,
                )
            )
    return "\n".join(out)


def targets(results: Results, plan: Plan) -> list[list[str]]:
    rows = []
    by_key = {(r["server"], r["scenario"], r["batch"], r["concurrency"]): r for r in results.http}
    ours, peer = by_key.get(("omlsvc", "tabular", 1, 16)), by_key.get(("mlserver", "tabular", 1, 16))
    if ours and peer:
        ratio = ours["req_per_s"] / peer["req_per_s"]
        rows.append(
            [
                "tabular batch 1, concurrency 16: throughput >= 2x MLServer, p99 no worse",
                f"{ratio:.2f}x; p99 {ours['p99_ms']:.1f} vs {peer['p99_ms']:.1f} ms",
                "met" if ratio >= 2 and ours["p99_ms"] <= peer["p99_ms"] else "MISSED",
            ]
        )
    img = results.images
    name = f"omlsvc_c{plan.workers}"
    if name in img and img.get("raw_capacity_images_per_s"):
        ratio = statistics.median(img["ratio_rounds"])
        rows.append(
            [
                f"ResNet-50 JPEG upload: images/s >= 0.9x raw preprocess+run loop ({plan.workers} streams each)",
                f"{ratio:.2f}x (median of {len(img['ratio_rounds'])} rounds; {img[name]['throughput']:.2f} vs "
                f"{img['raw_capacity_images_per_s']:.2f} images/s)",
                "met" if ratio >= 0.9 else "MISSED",
            ]
        )
    if results.cold:
        ratios = [
            d["slowest_first_score_s"] / d["raw_session_and_first_run_s"] for d in results.cold["deploys"]
        ]
        ratio = statistics.median(ratios)
        rows.append(
            [
                "cold first score after deploy (slowest worker) <= 1.5x raw create + run",
                f"{ratio:.2f}x (median of {len(ratios)})",
                "met" if ratio <= 1.5 else "MISSED",
            ]
        )
    return rows


# --- main ------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points, shorter runs (about 3 minutes)")
    parser.add_argument(
        "--workers", type=int, default=2, help="server workers (omlsvc) / parallel workers (MLServer)"
    )
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per omlsvc worker")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per load point")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per load point (medians are reported)"
    )
    parser.add_argument("--no-mlserver", action="store_true", help="skip MLServer (no virtualenv is created)")
    parser.add_argument(
        "--no-resnet", action="store_true", help="skip the ResNet-50-sized model (images, cold start)"
    )
    parser.add_argument(
        "--database-url", default=None, help="omlsvc's database (default: its embedded SQLite)"
    )
    parser.add_argument(
        "--serve-from",
        type=Path,
        default=None,
        help="serve omlsvc from this source tree (put first on PYTHONPATH), e.g. an older commit's "
        "`git archive` for a before/after comparison; sections 1-2 always use the installed omlsvc",
    )
    args = parser.parse_args(argv)
    plan = make_plan(args)
    started = time.perf_counter()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        log(
            f"warning: load average {load_before[0]:.2f} before the run; other processes will make figures noisy"
        )
    results = Results()

    from bench.mlserver import running_mlserver
    from tests.e2e.server import running_service

    with tempfile.TemporaryDirectory(prefix="omlsvc-bench-") as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        log("building models and a JPEG")
        models = build_models(scratch / "models", resnet=plan.resnet)
        jpeg = make_jpeg() if plan.resnet else None
        measure_raw(models, plan, results, jpeg)
        image_spec = measure_inprocess(models, plan, results, scratch, jpeg)
        if plan.resnet and jpeg is not None:
            measure_images_raw_stream(models, plan, results, jpeg, image_spec)

        log(
            f"starting omlsvc ({plan.workers} workers x {plan.threads} threads)"
            + (" and MLServer" if plan.mlserver else "")
        )
        environ = {"OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD, "OMLSVC_INTRA_OP_THREADS": str(plan.intra_op)}
        if args.database_url:
            environ["OMLSVC_DATABASE_URL"] = args.database_url
        served_from = (
            contextlib.nullcontext() if args.serve_from is None else contextlib.chdir(args.serve_from)
        )
        if args.serve_from:
            # ``python -m`` puts the working directory first on sys.path: start the server from there.
            environ["PYTHONPATH"] = os.pathsep.join([str(args.serve_from.resolve()), os.getcwd()])
        with served_from:
            service = stack.enter_context(
                running_service(
                    scratch / "omlsvc", workers=plan.workers, threads=plan.threads, environ=environ
                )
            )
        oml = OmlClient(service.url, "admin", ADMIN_PASSWORD)
        for key, model in models.items():
            oml.deploy(oml.upload(key, model.zip_path.read_bytes(), model.model_type), key)
        mlserver_url = None
        mlserver_pids: Callable[[], list[int]] = list
        if plan.mlserver:
            served = [(key, model.onnx_path) for key, model in models.items()]
            peer = stack.enter_context(
                running_mlserver(
                    scratch / "mlserver", served, workers=plan.workers, intra_op_threads=plan.intra_op
                )
            )
            mlserver_url = peer.url
            mlserver_pids = peer.pids
        measure_http(models, plan, results, oml, mlserver_url)
        if plan.resnet and jpeg is not None:
            measure_images(models, plan, results, oml, jpeg, image_spec)
        results.memory["omlsvc workers"] = peak_memory(service.worker_pids())
        if plan.mlserver:
            pids = mlserver_pids()
            results.memory["MLServer front end + inference workers"] = peak_memory(pids)
        if plan.resnet and jpeg is not None:
            measure_cold(models, plan, results, oml, jpeg, scratch / "models")

    elapsed = time.perf_counter() - started
    header = (
        f"omlsvc scoring bench: {plan.workers} workers x {plan.threads} threads, {plan.intra_op} intra-op thread(s) "
        f"per session, {os.cpu_count()} cores; {plan.rounds} round(s) x {plan.seconds:.1f} s per load point; load "
        f"by {'wrk' if have_wrk() else 'asyncio client'}; load average {load_before[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {elapsed / 60:.1f} min"
    )
    if args.serve_from:
        header += f"; omlsvc served from {args.serve_from}"
    report = render(results, plan)
    goal_rows = targets(results, plan)
    print(f"\n{header}\n\n{report}\n")
    if goal_rows:
        print("### Targets\n")
        print(markdown_table(["target", "measured", "verdict"], goal_rows))
    path = save(
        "scoring",
        {
            "plan": plan.__dict__,
            "header": header,
            "raw": results.raw,
            "inprocess": results.inprocess,
            "http": results.http,
            "images": results.images,
            "cold": results.cold,
            "memory": results.memory,
            "targets": goal_rows,
            "markdown": report,
        },
    )
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
