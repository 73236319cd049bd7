"""A fleet of concurrent clients mixing uploads, deploys, scores, reads, undeploys and deletes.

Used by ``tests/robustness/test_load.py`` (seconds), the fault tests (load while something breaks)
and ``bench/soak.py`` (minutes). Every request opens its own connection and has a timeout, so a
request that hangs is reported as such instead of hanging the run. Each client only changes models it
stored itself, so without faults every answer is predictable: anything but the expected status is an
error; with faults, a client forgets a model or deployment whose fate a lost answer left unknown, so
that only the request that lost its answer fails. What the clients were told (models stored and not
deleted, with the sha256 of what was sent; deployments made and not removed) is kept, to be compared
with the database afterwards (:func:`verify_database`).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import random
import threading
import time
import uuid
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from omlsvc.db.schema import deployments, model_chunks, models

MODELS = "/omlmod/v1/models"
DEPLOYMENTS = "/omlmod/v1/deployment"
#: status 0: no HTTP answer at all (connection refused or reset, timeout).
NO_ANSWER = 0

#: The answer each operation must get when nothing is broken.
EXPECTED = {
    "score": 200,
    "score_own": 200,
    "upload": 201,
    "deploy": 201,
    "undeploy": 204,
    "delete": 204,
    "read": 200,
    "list": 200,
}
WEIGHTS = {
    "score": 45,
    "score_own": 10,
    "upload": 10,
    "deploy": 9,
    "undeploy": 7,
    "delete": 5,
    "read": 8,
    "list": 6,
}


@dataclass(frozen=True)
class Outcome:
    op: str
    status: int
    seconds: float
    started: float
    code: str | None = None


@dataclass
class Told:
    """What the service confirmed to the clients."""

    models: dict[str, str] = field(default_factory=dict)  # model id -> sha256 of the bytes sent
    deployments: dict[str, str] = field(default_factory=dict)  # uri -> model id
    #: operations whose outcome is unknown (no answer): the database may or may not hold their effect.
    unknown: Counter[str] = field(default_factory=Counter)


@dataclass
class LoadResult:
    outcomes: list[Outcome]
    told: Told
    duration_s: float
    hung: int  # client threads still running when the run was over (a request that never ended)

    def by_status(self) -> Counter[int]:
        return Counter(o.status for o in self.outcomes)

    def unexpected(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != EXPECTED[o.op]]

    def percentile(self, q: float, op: str | None = None) -> float:
        values = sorted(o.seconds for o in self.outcomes if op is None or o.op == op)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]

    def table(self) -> list[tuple[str, int, str, float, float, float]]:
        """(op, requests, statuses, p50 ms, p99 ms, max ms) per operation."""
        rows = []
        for op in sorted({o.op for o in self.outcomes}):
            mine = [o for o in self.outcomes if o.op == op]
            statuses = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(o.status for o in mine).items()))
            rows.append(
                (
                    op,
                    len(mine),
                    statuses,
                    1000 * self.percentile(0.50, op),
                    1000 * self.percentile(0.99, op),
                    1000 * max(o.seconds for o in mine),
                )
            )
        return rows


def unique_package(template: bytes, nonce: str) -> bytes:
    """``template`` (a valid package) with a nonce file added, so every upload has its own sha256."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(template)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            target.writestr(item.filename, source.read(item))
        target.writestr("nonce.txt", nonce)
    return buffer.getvalue()


def multipart(fields: Mapping[str, str], data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="modelData"; filename="m.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Client(threading.Thread):
    """One simulated user session: picks weighted operations until ``deadline``."""

    def __init__(
        self,
        index: int,
        url: str,
        token: str,
        template: bytes,
        score_body: bytes,
        shared_uris: Sequence[str],
        deadline: float,
        *,
        timeout_s: float,
        seed: int,
        sink: Callable[[Outcome], None],
        told: Told,
        lock: threading.Lock,
        stop: threading.Event,
        weights: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(name=f"load-client-{index}", daemon=True)
        self._weights = dict(weights or WEIGHTS)
        self.index = index
        host, port = url.removeprefix("http://").split(":")
        self._address = (host, int(port))
        self._token = token
        self._template = template
        self._score_body = score_body
        self._shared = list(shared_uris)
        self._deadline = deadline
        self._timeout = timeout_s
        self._random = random.Random(seed)
        self._sink = sink
        self._told = told
        self._lock = lock
        self._halt = stop
        self._serial = 0
        self.idle: dict[str, str] = {}  # own model id -> sha256, not deployed
        self.deployed: dict[str, tuple[str, str]] = {}  # own uri -> (model id, sha256)

    def run(self) -> None:
        while time.monotonic() < self._deadline and not self._halt.is_set():
            op = self._choose()
            getattr(self, f"op_{op}")()

    def _choose(self) -> str:
        ops = [op for op, weight in self._weights.items() if weight and self._possible(op)]
        return self._random.choices(ops, weights=[self._weights[op] for op in ops])[0]

    def _possible(self, op: str) -> bool:
        if op in ("deploy", "delete"):
            return bool(self.idle)
        if op in ("undeploy", "score_own"):
            return bool(self.deployed)
        if op == "score":
            return bool(self._shared)
        return True

    # -- operations ------------------------------------------------------------------------------

    def op_score(self) -> None:
        self._request(
            "score", "POST", f"{DEPLOYMENTS}/{self._random.choice(self._shared)}/score", self._score_body
        )

    def op_score_own(self) -> None:
        uri = self._random.choice(sorted(self.deployed))
        self._request("score_own", "POST", f"{DEPLOYMENTS}/{uri}/score", self._score_body)

    def op_upload(self) -> None:
        self._serial += 1
        name = f"c{self.index}_{self._serial}"
        data = unique_package(self._template, f"{name}-{uuid.uuid4().hex}")
        body, content_type = multipart({"modelName": name, "modelType": "ONNX", "version": "1.0"}, data)
        status, answer = self._request("upload", "POST", MODELS, body, content_type)
        if status == 201:
            sha = hashlib.sha256(data).hexdigest()
            self.idle[answer["modelId"]] = sha
            with self._lock:
                self._told.models[answer["modelId"]] = sha

    def op_deploy(self) -> None:
        model_id = self._random.choice(sorted(self.idle))
        self._serial += 1
        uri = f"c{self.index}_u{self._serial}"
        status, _ = self._request(
            "deploy", "POST", DEPLOYMENTS, json.dumps({"modelId": model_id, "uri": uri}).encode()
        )
        if status == 201:
            self.deployed[uri] = (model_id, self.idle.pop(model_id))
            with self._lock:
                self._told.deployments[uri] = model_id
        elif status == NO_ANSWER:
            self.idle.pop(model_id)  # deployed or not, nobody said: deploying it again may be a 409

    def op_undeploy(self) -> None:
        uri = self._random.choice(sorted(self.deployed))
        status, _ = self._request("undeploy", "DELETE", f"{DEPLOYMENTS}/{uri}")
        if status == 204:
            model_id, sha = self.deployed.pop(uri)
            self.idle[model_id] = sha
            with self._lock:
                self._told.deployments.pop(uri, None)
        elif status == NO_ANSWER:
            self.deployed.pop(uri)  # maybe gone: scoring or undeploying it again may be a 404

    def op_delete(self) -> None:
        model_id = self._random.choice(sorted(self.idle))
        status, _ = self._request("delete", "DELETE", f"{MODELS}/{model_id}")
        if status == 204:
            self.idle.pop(model_id)
            with self._lock:
                self._told.models.pop(model_id, None)
        elif status == NO_ANSWER:
            self.idle.pop(model_id)  # maybe deleted: using it again may be a 404

    def op_read(self) -> None:
        mine = sorted(self.idle) + [model_id for model_id, _ in self.deployed.values()]
        if mine and self._random.random() < 0.5:
            self._request("read", "GET", f"{MODELS}/{self._random.choice(mine)}")
        else:
            self._request("read", "GET", f"{DEPLOYMENTS}/{self._random.choice(self._shared)}")

    def op_list(self) -> None:
        self._request("list", "GET", self._random.choice((MODELS, DEPLOYMENTS)) + "?limit=50")

    # -- HTTP --------------------------------------------------------------------------------------

    def _request(
        self,
        op: str,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        started = time.monotonic()
        status, answer, code = NO_ANSWER, None, None
        connection = http.client.HTTPConnection(*self._address, timeout=self._timeout)
        headers = {"Authorization": f"Bearer {self._token}", "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            status = response.status
            if raw and response.getheader("Content-Type", "").startswith("application/json"):
                answer = json.loads(raw)
                if status >= 400 and isinstance(answer, dict):
                    code = answer.get("code")
        except (OSError, http.client.HTTPException) as exc:
            code = type(exc).__name__
        finally:
            connection.close()
        if status == NO_ANSWER:
            with self._lock:
                self._told.unknown[op] += 1
        self._sink(Outcome(op, status, time.monotonic() - started, started, code))
        return status, answer


def run_fleet(
    url: str,
    tokens: Sequence[str],
    template: bytes,
    score_body: Mapping[str, Any],
    shared_uris: Sequence[str],
    *,
    clients: int = 64,
    duration_s: float = 15.0,
    timeout_s: float = 60.0,
    seed: int = 1,
    stop: threading.Event | None = None,
    weights: Mapping[str, int] | None = None,
) -> LoadResult:
    """Run ``clients`` clients (tokens assigned round-robin) for ``duration_s`` seconds, choosing
    operations with ``weights`` (default :data:`WEIGHTS`); ``stop`` ends the run early."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    told = Told()
    stop = stop or threading.Event()

    def sink(outcome: Outcome) -> None:
        with lock:
            outcomes.append(outcome)

    started = time.monotonic()
    deadline = started + duration_s
    fleet = [
        Client(
            index,
            url,
            tokens[index % len(tokens)],
            template,
            json.dumps(score_body).encode(),
            shared_uris,
            deadline,
            timeout_s=timeout_s,
            seed=seed * 1000 + index,
            sink=sink,
            told=told,
            lock=lock,
            stop=stop,
            weights=weights,
        )
        for index in range(clients)
    ]
    for client in fleet:
        client.start()
    for client in fleet:
        client.join(timeout=max(0.0, deadline - time.monotonic()) + timeout_s + 5)
    hung = sum(client.is_alive() for client in fleet)
    return LoadResult(outcomes, told, time.monotonic() - started, hung)


@dataclass(frozen=True)
class Integrity:
    models_in_db: int
    deployments_in_db: int
    missing_models: list[str]  # told stored, not in the database
    extra_models: list[str]  # in the database, never confirmed
    missing_deployments: list[str]
    extra_deployments: list[str]
    bad_content: list[str]  # the stored bytes do not hash to the recorded sha256, or to what was sent


def verify_database(
    engine: Engine,
    told: Told,
    *,
    models_before: Mapping[str, str] | None = None,
    deployments_before: Mapping[str, str] | None = None,
) -> Integrity:
    """Compare the database with what the clients were told (plus what existed before the run:
    model id -> sha256, uri -> model id), and re-hash every stored model from its chunks."""
    with engine.connect() as connection:
        rows = {row.id: row.sha256 for row in connection.execute(select(models.c.id, models.c.sha256))}
        deployed = {
            row.uri: row.model_id
            for row in connection.execute(select(deployments.c.uri, deployments.c.model_id))
        }
        digests: dict[str, Any] = defaultdict(hashlib.sha256)
        query = select(model_chunks.c.model_id, model_chunks.c.data).order_by(
            model_chunks.c.model_id, model_chunks.c.seq
        )
        for model_id, data in connection.execute(query.execution_options(yield_per=64)):
            digests[model_id].update(bytes(data))
    expected_models = {**(models_before or {}), **told.models}
    expected_deployments = {**(deployments_before or {}), **told.deployments}
    bad = [
        model_id
        for model_id, sha in rows.items()
        if digests[model_id].hexdigest() != sha
        or (model_id in expected_models and expected_models[model_id] != sha)
    ]
    return Integrity(
        models_in_db=len(rows),
        deployments_in_db=len(deployed),
        missing_models=sorted(set(expected_models) - set(rows)),
        extra_models=sorted(set(rows) - set(expected_models)),
        missing_deployments=sorted(
            uri for uri, model in expected_deployments.items() if deployed.get(uri) != model
        ),
        extra_deployments=sorted(set(deployed) - set(expected_deployments)),
        bad_content=sorted(bad),
    )
