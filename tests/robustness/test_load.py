"""64 concurrent clients on loopback for a bounded time: uploads, deploys, scores, reads, undeploys
and deletes mixed. Afterwards nothing failed, nothing hung, no worker died, every stored model still
hashes to its recorded sha256 (which is the sha256 of what its client sent), and the database holds
exactly the models and deployments the clients were told about. ``bench/soak.py`` runs the same
fleet for minutes and prints the figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import postgres_url
from tests.robustness.load import run_fleet, verify_database
from tests.robustness.served import database_of, memory_kib, prepare_fleet, private_postgres_schema, serving

CLIENTS = 64
DURATION_S = 10.0


def _emptied(folder: Path, within_s: float = 15.0) -> bool:
    """Whether ``folder`` is empty, or empties within ``within_s``: a worker may still be warming a
    model the fleet's last deploy announced (its private copy lasts as long as that load), but
    nothing may stay behind."""
    deadline = time.monotonic() + within_s
    while any(folder.iterdir()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _run(tmp_path: Path, database_url: str | None) -> None:
    with serving(tmp_path / "data", workers=2, threads=4, database_url=database_url) as service:
        engine = database_of(service, database_url)
        try:
            fleet = prepare_fleet(service, engine, tmp_path, users=4)
            workers = sorted(service.worker_pids())
            result = run_fleet(
                service.url,
                fleet.tokens,
                fleet.template,
                fleet.score_body,
                fleet.shared_uris,
                clients=CLIENTS,
                duration_s=DURATION_S,
                timeout_s=60,
            )
            assert result.hung == 0
            unexpected = result.unexpected()
            assert not unexpected, (result.by_status(), unexpected[:10])
            assert len(result.outcomes) > CLIENTS * 5, result.table()
            assert {o.op for o in result.outcomes} >= {"score", "upload", "deploy", "undeploy", "delete"}
            integrity = verify_database(
                engine,
                result.told,
                models_before=fleet.models_before,
                deployments_before=fleet.deployments_before,
            )
            assert integrity.missing_models == integrity.extra_models == [], integrity
            assert integrity.missing_deployments == integrity.extra_deployments == [], integrity
            assert integrity.bad_content == [], integrity
            assert sorted(service.worker_pids()) == workers
            assert all(memory_kib(pid)["VmRSS"] < 1024 * 1024 for pid in workers)
            assert _emptied(tmp_path / "data" / "tmp")
            assert "Traceback" not in service.log()
        finally:
            engine.dispose()


@pytest.mark.slow
def test_a_fleet_on_sqlite_loses_nothing(tmp_path: Path) -> None:
    _run(tmp_path, None)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_fleet_on_postgresql_loses_nothing(tmp_path: Path) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("OMLSVC_TEST_DATABASE_URL is not set")
    with private_postgres_schema(url) as scoped:
        _run(tmp_path, scoped)
