"""Several instances, one PostgreSQL database, nginx in front (README "Production topology").

Two ``omlsvc serve`` instances, each with its own data and cache folder, share one database in a
private schema. A change made through one (deploy, undeploy, token revocation, a disabled user) is
honoured by the other within a second, through the database's change counter. Behind a plain nginx
upstream, one instance SIGKILLed in the middle of a mixed load costs its clients only the requests it
held; nothing hangs, the survivor serves everything, and the database holds exactly what clients
were told.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.wiring import build_services
from tests import modelzoo
from tests.api.forms import multipart
from tests.conftest import postgres_url
from tests.e2e.front import Reply, nginx_balancer, request
from tests.e2e.server import RunningService, running_service
from tests.robustness.load import unique_package
from tests.robustness.served import private_postgres_schema

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SHARED_SECRET = "jwt-secret-shared-by-every-instance-" + "x" * 16
ONE_SECOND = 1.0
MODELS = "/omlmod/v1/models"
DEPLOYMENTS = "/omlmod/v1/deployment"
LOAD_S = 20.0
KILL_AT_S = 8.0
SCORERS = 2
MUTATORS = 2
CLIENT_TIMEOUT_S = 30.0


@pytest.fixture
def shared_database() -> Iterator[str]:
    url = postgres_url()
    if url is None:
        pytest.skip("OMLSVC_TEST_DATABASE_URL is not set")
    with private_postgres_schema(url) as scoped:
        yield scoped


@contextmanager
def two_instances(directory: Path, database_url: str) -> Iterator[tuple[RunningService, RunningService]]:
    """Instances a and b, each the leader of its own process group, started one after the other (the
    first creates the schema and admin)."""
    environ = {
        "OMLSVC_DATABASE_URL": database_url,
        "OMLSVC_JWT_SECRET": SHARED_SECRET,
        "OMLSVC_JOB_RUNNER": "true",
    }
    with ExitStack() as stack:
        a, b = (
            stack.enter_context(
                running_service(
                    directory / name, workers=1, threads=4, environ=environ, own_process_group=True
                )
            )
            for name in ("a", "b")
        )
        yield a, b


def score_body(zoo: modelzoo.ZooModel) -> dict[str, object]:
    return {"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]}


def upload(url: str, token: str, data: bytes, name: str) -> Reply:
    body, content_type = multipart(
        {"modelName": name, "modelType": "ONNX", "version": "1.0", "shared": "true"},
        {"modelData": ("m.zip", data)},
    )
    return request(
        url, "POST", MODELS, token=token, body=body, content_type=content_type, timeout=CLIENT_TIMEOUT_S
    )


def seconds_until(check: Callable[[], bool], limit_s: float = 10.0) -> float:
    """Seconds until ``check()`` holds, polling every 20 ms (``inf`` if it never does in ``limit_s``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    return float("inf")


def test_a_change_through_one_instance_is_honoured_by_the_other_within_a_second(
    tmp_path: Path, shared_database: str
) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    scoring = score_body(zoo)
    with two_instances(tmp_path, shared_database) as (a, b):
        admin = a.token()
        assert b.token()  # one user table, one signing secret

        def scores(service: RunningService, token: str, uri: str = "house") -> int:
            return request(
                service.url, "POST", f"{DEPLOYMENTS}/{uri}/score", token=token, body=scoring
            ).status

        assert scores(b, admin) == 404  # b has looked the URI up, and found nothing
        stored = upload(a.url, admin, zoo.zip_path.read_bytes(), "house")
        assert stored.status == 201, stored.body
        deployed = request(
            a.url, "POST", DEPLOYMENTS, token=admin, body={"modelId": stored.body["modelId"], "uri": "house"}
        )
        assert deployed.status == 201, deployed.body
        assert seconds_until(lambda: scores(b, admin) == 200) <= ONE_SECOND

        assert scores(a, admin) == 200
        assert request(b.url, "DELETE", f"{DEPLOYMENTS}/house", token=admin).status == 204
        assert seconds_until(lambda: scores(a, admin) == 404) <= ONE_SECOND

        engine = make_engine(shared_database)
        try:
            auth = build_services(Settings.for_tests(tmp_path / "tools", shared_database), engine=engine).auth
            auth.add_user("ANALYST1", "analyst-password")
            auth.add_user("ANALYST2", "analyst-password")
            first, second = a.token("ANALYST1", "analyst-password"), a.token("ANALYST2", "analyst-password")

            def models(service: RunningService, token: str) -> int:
                return request(service.url, "GET", MODELS, token=token).status

            assert models(b, first) == models(b, second) == 200  # both tokens now cached by b
            revoke = request(a.url, "POST", "/omlusers/api/oauth2/v1/token/revoke", token=first)
            assert revoke.status == 200, revoke.body
            assert seconds_until(lambda: models(b, first) == 401) <= ONE_SECOND

            assert models(a, second) == 200
            auth.set_disabled("ANALYST2", True)  # what `omlsvc users disable` does, on any host
            assert seconds_until(lambda: models(a, second) == 401 and models(b, second) == 401) <= ONE_SECOND
        finally:
            engine.dispose()


@dataclass
class Ledger:
    """Every reply, and what the clients were told. A request that got no answer or a 502 may or may
    not have been carried out: its model or URI is *uncertain*."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    replies: list[tuple[str, Reply, float]] = field(default_factory=list)  # (operation, reply, started)
    models: dict[str, str] = field(default_factory=dict)  # name -> sha256 of what was sent
    uncertain_models: dict[str, str] = field(default_factory=dict)
    deployed: set[str] = field(default_factory=set)
    uncertain_uris: set[str] = field(default_factory=set)

    def record(self, operation: str, started: float, reply: Reply) -> Reply:
        with self.lock:
            self.replies.append((operation, reply, started))
        return reply


EXPECTED = {"score": 200, "upload": 201, "deploy": 201, "undeploy": 204}


def lost(reply: Reply) -> bool:
    """What a client sees of a request its instance held when it died."""
    return reply.status == 502 or (reply.status == 0 and reply.error != "timeout")


def scorer(url: str, token: str, body: dict[str, object], ledger: Ledger, stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        reply = request(
            url, "POST", f"{DEPLOYMENTS}/base/score", token=token, body=body, timeout=CLIENT_TIMEOUT_S
        )
        ledger.record("score", started, reply)
        stop.wait(0.01)  # a steady load, leaving the CPU to the instances


def mutator(
    index: int,
    url: str,
    token: str,
    template: bytes,
    body: dict[str, object],
    ledger: Ledger,
    stop: threading.Event,
) -> None:
    """Upload a model, deploy it, score it, and undeploy every other one."""
    serial = 0
    while not stop.is_set():
        serial += 1
        name = f"m{index}_{serial}"
        data = unique_package(template, name)
        sha = hashlib.sha256(data).hexdigest()
        started = time.monotonic()
        stored = ledger.record("upload", started, upload(url, token, data, name))
        with ledger.lock:
            if stored.status == 201:
                ledger.models[name] = sha
            elif lost(stored):
                ledger.uncertain_models[name] = sha
        if stored.status != 201:
            continue
        started = time.monotonic()
        deployed = ledger.record(
            "deploy",
            started,
            request(
                url,
                "POST",
                DEPLOYMENTS,
                token=token,
                body={"modelId": stored.body["modelId"], "uri": name},
                timeout=CLIENT_TIMEOUT_S,
            ),
        )
        with ledger.lock:
            if deployed.status == 201:
                ledger.deployed.add(name)
            elif lost(deployed):
                ledger.uncertain_uris.add(name)
        if deployed.status != 201:
            continue
        started = time.monotonic()
        ledger.record(
            "score",
            started,
            request(
                url, "POST", f"{DEPLOYMENTS}/{name}/score", token=token, body=body, timeout=CLIENT_TIMEOUT_S
            ),
        )
        if serial % 2 == 0:
            started = time.monotonic()
            removed = ledger.record(
                "undeploy",
                started,
                request(url, "DELETE", f"{DEPLOYMENTS}/{name}", token=token, timeout=CLIENT_TIMEOUT_S),
            )
            with ledger.lock:
                if removed.status == 204:
                    ledger.deployed.discard(name)
                elif lost(removed):
                    ledger.uncertain_uris.add(name)


def test_one_instance_killed_under_load_behind_nginx_costs_only_what_it_held(
    tmp_path: Path, shared_database: str
) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    template = zoo.zip_path.read_bytes()
    body = score_body(zoo)
    with (
        two_instances(tmp_path, shared_database) as (a, b),
        nginx_balancer(
            tmp_path / "balancer", [a.url.removeprefix("http://"), b.url.removeprefix("http://")]
        ) as lb,
    ):
        token = a.token()
        base = upload(lb.url, token, template, "base")
        assert base.status == 201, base.body
        deployed = request(
            lb.url, "POST", DEPLOYMENTS, token=token, body={"modelId": base.body["modelId"], "uri": "base"}
        )
        assert deployed.status == 201, deployed.body
        expected_score = request(lb.url, "POST", f"{DEPLOYMENTS}/base/score", token=token, body=body).body
        ledger = Ledger(models={"base": hashlib.sha256(template).hexdigest()}, deployed={"base"})

        stop = threading.Event()
        clients = [
            threading.Thread(target=scorer, args=(lb.url, token, body, ledger, stop)) for _ in range(SCORERS)
        ] + [
            threading.Thread(target=mutator, args=(index, lb.url, token, template, body, ledger, stop))
            for index in range(MUTATORS)
        ]
        started = time.monotonic()
        for client in clients:
            client.start()
        time.sleep(KILL_AT_S)
        killed_at = time.monotonic()
        os.killpg(a.process.pid, signal.SIGKILL)  # gunicorn's master and workers at once
        time.sleep(max(0.0, started + LOAD_S - time.monotonic()))
        stop.set()
        for client in clients:
            client.join(timeout=CLIENT_TIMEOUT_S + 5)
        assert not any(client.is_alive() for client in clients)  # no request hung

        replies = ledger.replies
        assert not [reply for _, reply, _ in replies if reply.error == "timeout"]
        assert max(reply.seconds for _, reply, _ in replies) < 15.0
        failed = [(operation, reply, at - killed_at) for operation, reply, at in replies if lost(reply)]
        assert len(failed) <= SCORERS + MUTATORS, failed  # at most one request per client in flight
        assert all(at <= 1.0 and at + reply.seconds >= 0 for _, reply, at in failed), failed
        unexpected = [
            (operation, reply)
            for operation, reply, _ in replies
            if not lost(reply) and reply.status != EXPECTED[operation]
        ]
        assert unexpected == []
        operations = {operation for operation, _, at in replies if at > killed_at}
        assert operations == set(EXPECTED)  # every kind of request went on after the kill

        survivor_scores = [
            reply for operation, reply, at in replies if operation == "score" and at > killed_at + 1.0
        ]
        assert len(survivor_scores) >= 20
        assert all(reply.status == 200 for reply in survivor_scores)
        direct = request(b.url, "POST", f"{DEPLOYMENTS}/base/score", token=token, body=body)
        assert (direct.status, direct.body) == (200, expected_score)
        assert a.process.poll() is not None and b.process.poll() is None

        listed = request(b.url, "GET", MODELS, token=token)
        assert listed.status == 200
        stored = {item["modelName"]: item["modelId"] for item in listed.body["items"]}
        assert set(stored) - set(ledger.uncertain_models) == set(ledger.models)
        assert len(stored) == len(ledger.models) + len(set(stored) & set(ledger.uncertain_models))
        sent = {**ledger.uncertain_models, **ledger.models}
        for name, model_id in stored.items():
            content = request(b.url, "GET", f"{MODELS}/{model_id}/content", token=token)
            assert content.status == 200
            assert hashlib.sha256(content.body).hexdigest() == sent[name], name
        endpoints = request(b.url, "GET", DEPLOYMENTS, token=token)
        assert endpoints.status == 200
        uris = {item["uri"] for item in endpoints.body["items"]}
        assert uris - ledger.uncertain_uris == ledger.deployed - ledger.uncertain_uris
