"""A real omlsvc under gunicorn for robustness tests: requests, worker facts, a private PostgreSQL schema.

Built on :func:`tests.e2e.server.running_service`; every request here opens its own connection and
has a timeout, so a hung request fails a test instead of hanging it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.wiring import build_services
from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.server import RunningService, running_service
from tests.robustness.load import unique_package

JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


def call(
    service: RunningService,
    token: str | None,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    *,
    content_type: str = JSON,
    timeout: float = 60.0,
) -> Answer:
    """One request on a fresh connection; the body is parsed as JSON when it is JSON."""
    host, port = service.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Connection": "close"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if payload is not None:
        headers["Content-Type"] = content_type
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    parsed: Any = raw
    if answer_headers.get("content-type", "").startswith(JSON) and raw:
        parsed = json.loads(raw)
    return Answer(response.status, parsed, answer_headers)


def upload(
    service: RunningService, token: str, data: bytes, *, name: str, version: str = "1.0", **fields: str
) -> Answer:
    body, content_type = multipart(
        {"modelName": name, "modelType": "ONNX", "version": version, **fields}, {"modelData": ("m.zip", data)}
    )
    return call(service, token, "POST", "/omlmod/v1/models", body, content_type=content_type)


def store_and_deploy(
    service: RunningService, token: str, data: bytes, uri: str, model_type: str = "ONNX"
) -> str:
    """Store ``data`` as model ``uri`` and deploy it at ``uri``; returns the model id."""
    stored = upload(service, token, data, name=uri, modelType=model_type)
    assert stored.status == 201, stored.body
    deployed = call(
        service, token, "POST", "/omlmod/v1/deployment", {"modelId": stored.body["modelId"], "uri": uri}
    )
    assert deployed.status == 201, deployed.body
    return str(stored.body["modelId"])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


@contextmanager
def serving(
    data_dir: Path,
    *,
    workers: int = 2,
    threads: int = 4,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[RunningService]:
    env = dict(environ or {})
    if database_url:
        env["OMLSVC_DATABASE_URL"] = database_url
    with running_service(data_dir, workers=workers, threads=threads, environ=env) as service:
        yield service


@contextmanager
def private_postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server at ``url``; yields a URL that uses it, drops it after."""
    schema = f"omlsvc_robust_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@dataclass(frozen=True)
class Fleet:
    """What a load run needs: tokens of several users, a package to upload, shared deployments."""

    tokens: list[str]
    template: bytes
    score_body: dict[str, Any]
    shared_uris: list[str]
    models_before: dict[str, str]  # model id -> sha256
    deployments_before: dict[str, str]  # uri -> model id


def database_of(service: RunningService, database_url: str | None) -> Engine:
    """An engine on the service's database (its SQLite file unless ``database_url`` is given)."""
    return make_engine(database_url or f"sqlite:///{service.log_path.parent / 'omlsvc.db'}")


def prepare_fleet(
    service: RunningService, engine: Engine, directory: Path, *, users: int = 8, shared: int = 4
) -> Fleet:
    """Add ``users`` developers, and have admin store and deploy ``shared`` shared regressors."""
    settings = Settings.for_tests(
        directory / "admin-tools", database_url=engine.url.render_as_string(hide_password=False)
    )
    auth = build_services(settings, engine=engine).auth
    password = "load-test-password"
    names = [f"load{index}" for index in range(users)]
    for name in names:
        auth.add_user(name, password)
    tokens = [service.token(name, password) for name in names]
    zoo = modelzoo.make_regressor_zip(directory)
    template = zoo.zip_path.read_bytes()
    admin = service.token()
    models_before, deployments_before, uris = {}, {}, []
    for index in range(shared):
        uri = f"shared_{index}"
        data = unique_package(template, f"shared-{index}")
        stored = upload(service, admin, data, name=uri, shared="true")
        assert stored.status == 201, stored.body
        model_id = stored.body["modelId"]
        deployed = call(service, admin, "POST", "/omlmod/v1/deployment", {"modelId": model_id, "uri": uri})
        assert deployed.status == 201, deployed.body
        models_before[model_id] = hashlib.sha256(data).hexdigest()
        deployments_before[uri] = model_id
        uris.append(uri)
    body = {"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]}
    return Fleet(tokens, template, body, uris, models_before, deployments_before)
