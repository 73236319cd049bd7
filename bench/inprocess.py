"""Sections 1 and 2 of the scoring bench, no HTTP: raw ``session.run`` per batch size (and the capacity
of ``workers`` raw processes), then omlsvc's scoring service called in-process, and the raw image loop
an upload is held against."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.client import multipart
from bench.models import BenchModel
from bench.plan import ADMIN_PASSWORD, Plan, Results, log
from bench.points import oml_body
from bench.raw import make_session, raw_capacity, time_calls


def measure_raw(models: dict[str, BenchModel], plan: Plan, results: Results, jpeg: bytes | None) -> None:
    log(
        f"raw onnxruntime: {plan.intra_op} intra-op thread(s) per session, {plan.workers} process(es) for capacity"
    )
    for key, batches in (("tabular", plan.tabular_batches), ("small_cnn", plan.cnn_batches)):
        model = models[key]
        session = make_session(model, plan)
        for batch in batches:
            feed = {model.input_name: model.batch(batch)}
            timing = time_calls(functools.partial(session.run, None, feed), batch, min(plan.seconds, 2.0))
            results.raw[f"{key}/{batch}"] = timing.as_dict()
        results.raw[f"{key}/1"]["capacity_rows_per_s"] = raw_capacity(model, 1, plan, plan.seconds)
    if plan.resnet:
        model = models["resnet50"]
        session = make_session(model, plan)
        feed = {model.input_name: model.batch(1)}
        results.raw["resnet50/1"] = time_calls(
            lambda: session.run(None, feed), 1, plan.seconds, min_calls=10
        ).as_dict()


@dataclasses.dataclass
class InProcess:
    """omlsvc's services and app with an admin's token, built as a worker would, with no server."""

    services: Any
    client: Any
    engine: Any
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def start_inprocess(plan: Plan, scratch: Path) -> InProcess:
    import falcon.testing

    from omlsvc.config import Settings
    from omlsvc.db.engine import make_engine
    from omlsvc.db.setup import init_schema
    from omlsvc.rest.app import create_app
    from omlsvc.wiring import build_services

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
    return InProcess(services, client, engine, token)


def deploy_inprocess(service: InProcess, models: dict[str, BenchModel]) -> dict[str, Any]:
    """Upload and deploy every model through the app. Returns the image spec omlsvc derived for ResNet."""
    from omlsvc.core.signature import ScoringSpec

    client, auth, services, token = service.client, service.auth, service.services, service.token
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
    return image_spec


def measure_inprocess(
    models: dict[str, BenchModel], plan: Plan, results: Results, scratch: Path, jpeg: bytes | None
) -> dict[str, Any]:
    """Section 2: the service without HTTP. Returns the image spec omlsvc derived for ResNet."""
    log("scoring service in-process (no HTTP)")
    service = start_inprocess(plan, scratch)
    image_spec = deploy_inprocess(service, models)
    services, token = service.services, service.token

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
    service.engine.dispose()
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
