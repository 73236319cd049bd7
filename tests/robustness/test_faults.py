"""Faults under load, against real gunicorn (``tests/e2e/server.py``).

* A worker killed with SIGKILL: gunicorn starts another; only requests that were in flight at the
  kill may fail, nothing hangs, and no half-stored model is left.
* The PostgreSQL server stopped and started again: while it is down every answer that needs it is
  503 ``UNAVAILABLE``; once it is back everything works again without restarting the service. This
  test stops the server every other test shares, so it holds the suite-wide PostgreSQL lock
  exclusively (``tests/postgres_lock.py``): other pytest-xdist processes wait for it.
* The disk cache (``<data_dir>/cache``) removed again and again while models are deployed and
  scored: sessions are rebuilt from the database, no request fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import postgres_url
from tests.e2e.server import ADMIN_PASSWORD, RunningService
from tests.postgres_lock import MARKER as POSTGRES_OUTAGE
from tests.robustness.conftest import assert_error_body
from tests.robustness.load import EXPECTED, NO_ANSWER, LoadResult, run_fleet, verify_database
from tests.robustness.served import (
    Fleet,
    call,
    database_of,
    prepare_fleet,
    private_postgres_schema,
    serving,
)

T = TypeVar("T")
THREADS = 4


def in_background(function: Callable[[], T]) -> tuple[Future[T], ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    return pool.submit(function), pool


def fleet_runner(service: RunningService, fleet: Fleet, **kwargs: Any) -> Callable[[], LoadResult]:
    return lambda: run_fleet(
        service.url, fleet.tokens, fleet.template, fleet.score_body, fleet.shared_uris, timeout_s=60, **kwargs
    )


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


# --- a worker killed -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_under_load_is_replaced_and_only_its_requests_fail(tmp_path: Path) -> None:
    with serving(tmp_path / "data", workers=2, threads=THREADS) as service:
        engine = database_of(service, None)
        try:
            fleet = prepare_fleet(service, engine, tmp_path, users=4, shared=2)
            workers = sorted(service.worker_pids())
            load, pool = in_background(fleet_runner(service, fleet, clients=16, duration_s=9))
            time.sleep(3)
            victim = workers[0]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            # gone once gunicorn has reaped it: until then its listening socket may still take
            # connections (SO_REUSEPORT), which die with it like the requests it was serving
            assert wait_until(lambda: victim not in service.worker_pids(), 10, step=0.001)
            dead_at = time.monotonic()
            assert wait_until(lambda: len(service.worker_pids()) == 2, 30)
            result = load.result(timeout=120)
            pool.shutdown()

            assert result.hung == 0
            assert max(o.seconds for o in result.outcomes) < 60
            failed = result.unexpected()
            held = [o for o in failed if o.started <= dead_at and o.started + o.seconds >= killed_at]
            assert held == failed, [o for o in failed if o not in held]
            assert all(o.status in (NO_ANSWER, 500, 502, 503) for o in failed), failed
            # per client: its in-flight request, plus at most one more sent to the dying worker's
            # still-open socket before gunicorn reaped it (the window checked just above)
            assert len(failed) <= 2 * 16
            after = [o for o in result.outcomes if o.started > dead_at]
            assert after and all(o.status == EXPECTED[o.op] for o in after)

            integrity = verify_database(
                engine,
                result.told,
                models_before=fleet.models_before,
                deployments_before=fleet.deployments_before,
            )
            assert integrity.bad_content == []
            unknown = result.told.unknown
            assert len(integrity.extra_models) <= unknown["upload"], integrity
            assert len(integrity.missing_models) <= unknown["delete"], integrity
            assert len(integrity.extra_deployments) <= unknown["deploy"], integrity
            assert len(integrity.missing_deployments) <= unknown["undeploy"], integrity
            survivor = call(
                service,
                service.token(),
                "POST",
                f"/omlmod/v1/deployment/{fleet.shared_uris[0]}/score",
                fleet.score_body,
            )
            assert survivor.status == 200
        finally:
            engine.dispose()


# --- the disk cache removed --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_disk_cache_removed_while_serving_is_rebuilt_from_the_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(data_dir, workers=2, threads=THREADS) as service:
        engine = database_of(service, None)
        try:
            fleet = prepare_fleet(service, engine, tmp_path, users=2, shared=2)
            cache = data_dir / "cache"
            stop = threading.Event()
            removals = 0

            def remove_cache_again_and_again() -> None:
                nonlocal removals
                while not stop.is_set():
                    if cache.exists():
                        shutil.rmtree(cache, ignore_errors=True)
                        removals += 1
                    # faster than some session builds on a busy machine: a load never depends on the
                    # cache (it pins the model's files outside it), so no removal may fail a request
                    time.sleep(0.2)

            remover = threading.Thread(target=remove_cache_again_and_again, daemon=True)
            remover.start()
            weights = {"score": 30, "score_own": 40, "upload": 15, "deploy": 15, "undeploy": 3}
            try:
                result = fleet_runner(service, fleet, clients=12, duration_s=8, weights=weights)()
            finally:
                stop.set()
                remover.join()
            assert removals > 5
            assert result.hung == 0
            assert not result.unexpected(), (result.by_status(), result.unexpected()[:5])
            assert sum(1 for o in result.outcomes if o.op == "score_own") > 10

            # a fresh worker has no session at all: it builds every one from the database
            shutil.rmtree(cache, ignore_errors=True)
            victims = service.worker_pids()
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            assert wait_until(lambda: len(set(service.worker_pids()) - set(victims)) == 2, 30)
            token = service.token()
            for uri in fleet.shared_uris:
                answer = call(service, token, "POST", f"/omlmod/v1/deployment/{uri}/score", fleet.score_body)
                assert answer.status == 200, answer.body
            assert "Traceback" not in service.log()
        finally:
            engine.dispose()


# --- the PostgreSQL server stopped ----------------------------------------------------------------

CLUSTER = ["--skip-systemctl-redirect"]
#: Set it where something outside pytest (a bench, a demo) uses the same server during a test run.
NO_OUTAGE_ENV = "OMLSVC_TEST_NO_POSTGRES_OUTAGE"


def _pg_ctl(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", *CLUSTER, version, "main", action], check=True, capture_output=True, timeout=120
    )


def _pg_ready(url: str) -> bool:
    from sqlalchemy import text

    from omlsvc.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture
def postgres_server() -> Iterator[str]:
    url = postgres_url()
    if url is None:
        pytest.skip("OMLSVC_TEST_DATABASE_URL is not set")
    if not os.path.isdir("/etc/postgresql") or shutil.which("pg_ctlcluster") is None:
        pytest.skip("needs a local PostgreSQL cluster managed with pg_ctlcluster")
    if os.environ.get(NO_OUTAGE_ENV):
        pytest.skip(f"{NO_OUTAGE_ENV} is set: the shared PostgreSQL server must stay up")
    yield url


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.postgres_outage
def test_postgresql_stopped_and_started_under_load_is_503_then_recovers(
    postgres_server: str, tmp_path: Path
) -> None:
    assert POSTGRES_OUTAGE == "postgres_outage"
    with (
        private_postgres_schema(postgres_server) as url,
        serving(tmp_path / "data", workers=2, threads=THREADS, database_url=url) as service,
    ):
        engine = database_of(service, url)
        try:
            fleet = prepare_fleet(service, engine, tmp_path, users=2, shared=2)
            workers = sorted(service.worker_pids())
            stop = threading.Event()
            load, pool = in_background(fleet_runner(service, fleet, clients=12, duration_s=180, stop=stop))
            try:
                time.sleep(3)
                stopped_at = time.monotonic()
                try:
                    _pg_ctl("stop")
                    down_at = time.monotonic()
                    time.sleep(1)
                    ready = call(service, None, "GET", "/health/ready")
                    assert ready.status == 503 and assert_error_body(ready.body)["code"] == "UNAVAILABLE"
                    login = call(
                        service,
                        None,
                        "POST",
                        "/omlusers/api/oauth2/v1/token",
                        {
                            "grant_type": "password",
                            "username": "admin",
                            "password": ADMIN_PASSWORD,
                        },
                    )
                    assert login.status == 503 and login.body["code"] == "UNAVAILABLE"
                    assert login.headers.get("retry-after")
                    time.sleep(2)
                finally:
                    _pg_ctl("start")
                    assert wait_until(lambda: _pg_ready(postgres_server), 60, step=0.5)
                started_at = time.monotonic()
                assert wait_until(lambda: call(service, None, "GET", "/health/ready").status == 200, 20)
                recovered_at = time.monotonic()
                time.sleep(4)  # the load goes on for a while on the recovered service
            finally:
                stop.set()
                result = load.result(timeout=120)
                pool.shutdown()
            integrity = verify_database(
                engine,
                result.told,
                models_before=fleet.models_before,
                deployments_before=fleet.deployments_before,
            )
        finally:
            engine.dispose()

        assert result.hung == 0
        # what a client was told is what the database holds: a 503 stored nothing, a 201 was kept
        assert integrity.bad_content == integrity.missing_models == integrity.extra_models == [], integrity
        assert integrity.missing_deployments == integrity.extra_deployments == [], integrity
        # while the server was down (or going down): the expected answer, or 503 UNAVAILABLE
        window = [
            o for o in result.outcomes if o.started + o.seconds >= stopped_at and o.started <= recovered_at
        ]
        for outcome in window:
            assert outcome.status in (EXPECTED[outcome.op], 503), outcome
            if outcome.status == 503:
                assert outcome.code == "UNAVAILABLE", outcome
        assert any(o.status == 503 for o in window), "nothing noticed the outage"
        # before and after it: every answer as expected
        outside = [
            o for o in result.outcomes if o.started + o.seconds < stopped_at or o.started > recovered_at + 1
        ]
        assert outside and not [o for o in outside if o.status != EXPECTED[o.op]], [
            o for o in outside if o.status != EXPECTED[o.op]
        ][:5]
        assert any(o.started > recovered_at + 1 for o in result.outcomes)
        assert sorted(service.worker_pids()) == workers  # recovered without a restart
        assert recovered_at - started_at < 20
        assert down_at - stopped_at < 60
        assert "Traceback" not in service.log(), service.log()[-4000:]
