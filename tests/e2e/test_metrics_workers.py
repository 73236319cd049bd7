"""``GET /metrics`` from a real gunicorn with two workers: whichever worker answers the scrape, the
counters add up every worker's requests (prometheus_client's multiprocess mode), within
:data:`~omlsvc.metric_writes.WRITE_BEHIND_S` of the last one."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from omlsvc.metric_writes import WRITE_BEHIND_S
from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.server import RunningService, running_service

SCORE_ROUTE = "/omlmod/v1/deployment/{uri}/score"
METRICS_TOKEN = "scraper-token-for-tests-0123456789"


class CountingClient:
    """Sends each request on a new connection (so the kernel spreads them over the workers) and
    counts what it sent by route family, method and status class, and which workers answered."""

    def __init__(self, service: RunningService, token: str) -> None:
        self.service = service
        self.token = token
        self.sent: Counter[tuple[str, str, str]] = Counter()
        self.workers: set[str] = set()

    def call(
        self, method: str, path: str, route: str, body: bytes | None = None, content_type: str = ""
    ) -> int:
        headers = {"Authorization": f"Bearer {self.token}", "Connection": "close"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.service.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                status, worker = response.status, response.headers["X-Omlsvc-Worker"]
        except urllib.error.HTTPError as error:
            error.read()
            status, worker = error.code, error.headers["X-Omlsvc-Worker"]
        self.sent[(route, method, f"{status // 100}xx")] += 1
        self.workers.add(worker)
        return status


def scrape(service: RunningService, token: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    request = urllib.request.Request(service.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def http_counts(samples: Samples) -> dict[tuple[str, str, str], float]:
    """``omlsvc_http_requests_total`` by route, method and status class (the start-up probes apart)."""
    return {
        (labels["route"], labels["method"], labels["status_class"]): value
        for (name, frozen), value in samples.items()
        if name == "omlsvc_http_requests_total"
        for labels in [dict(frozen)]
        if labels["route"] != "/health/ready"  # the start-up probes of running_service
    }


def without_scrapes(counts: dict[tuple[str, str, str], float]) -> dict[tuple[str, str, str], float]:
    """The counts of every route but ``/metrics``, which the scrapes that wait below add to."""
    return {key: value for key, value in counts.items() if key[0] != "/metrics"}


def settled_scrape(service: RunningService, token: str, sent: dict[tuple[str, str, str], int]) -> Samples:
    """The scrape once the other worker has written what it counted: each worker writes its values
    within WRITE_BEHIND_S (the scrape's own worker before answering). Read again for a while, then
    give the last scrape to the assertions whatever it says."""
    deadline = time.monotonic() + 20 * WRITE_BEHIND_S
    while True:
        samples = scrape(service, token)
        if without_scrapes(http_counts(samples)) == sent or time.monotonic() > deadline:
            return samples
        time.sleep(WRITE_BEHIND_S / 2)


@pytest.mark.slow
def test_counters_add_up_across_two_workers_to_the_requests_made(tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    rows = zoo.sample["float_input"].tolist()
    score_body = json.dumps({"inputRecords": [{"float_input": rows}]}).encode()
    environ = {"OMLSVC_METRICS_TOKEN": METRICS_TOKEN}
    with running_service(tmp_path / "data", workers=2, threads=4, environ=environ) as service:
        client = CountingClient(service, service.token())
        client.sent[("/omlusers/api/oauth2/v1/token", "POST", "2xx")] += 1  # the login above
        body, content_type = multipart(
            {"modelName": "house", "modelType": "ONNX", "version": "1.0"},
            {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
        )
        assert client.call("POST", "/omlmod/v1/models", "/omlmod/v1/models", body, content_type) == 201
        with urllib.request.urlopen(
            urllib.request.Request(
                service.url + "/omlmod/v1/models",
                headers={"Authorization": f"Bearer {client.token}"},
            )
        ) as listed:
            model_id = json.load(listed)["items"][0]["modelId"]
        client.sent[("/omlmod/v1/models", "GET", "2xx")] += 1
        deploy = json.dumps({"modelId": model_id, "uri": "house"}).encode()
        assert (
            client.call("POST", "/omlmod/v1/deployment", "/omlmod/v1/deployment", deploy, "application/json")
            == 201
        )
        scores = 40
        for _ in range(scores):
            path = "/omlmod/v1/deployment/house/score"
            assert client.call("POST", path, SCORE_ROUTE, score_body, "application/json") == 200
        for _ in range(6):
            path = "/omlmod/v1/deployment/nowhere/score"
            assert client.call("POST", path, SCORE_ROUTE, score_body, "application/json") == 404
        assert client.workers == {"0", "1"}, "the requests should have reached both workers"

        samples = settled_scrape(service, METRICS_TOKEN, dict(client.sent))

    assert without_scrapes(http_counts(samples)) == dict(client.sent)
    assert samples[("omlsvc_scoring_requests_total", frozenset({("deployment", "house")}))] == scores
    assert samples[("omlsvc_scoring_rows_total", frozenset({("deployment", "house")}))] == scores * len(rows)
    memory = [v for (name, _), v in samples.items() if name == "omlsvc_worker_resident_memory_bytes"]
    assert len(memory) == 2 and all(v > 0 for v in memory)  # one gauge per live worker


# -- issue 18: an `omlsvc jobs worker` process serves its own metrics -------------------------------------


@pytest.mark.slow
def test_a_jobs_worker_serves_its_runs_on_its_own_metrics_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs, one whose input table is gone by the time it runs: the worker's endpoint counts one
    run succeeded (150 rows written) and one failed, for the metrics token only; the gunicorn
    workers' directory, named in its environment, is left alone."""
    import io
    import os
    import signal
    import subprocess
    import sys
    import time

    from sqlalchemy import text

    from omlsvc.cli import main
    from omlsvc.db.engine import make_engine
    from tests.e2e.server import free_port
    from tests.jobdata import InputTables

    zoo = modelzoo.make_regressor_zip(tmp_path)
    environ = {"OMLSVC_DATA_DIR": str(tmp_path)}

    def omlsvc(*args: str) -> str:
        """One command, in this process (a subprocess per command would spend its time importing)."""
        assert main(list(args), environ=environ) == 0, capsys.readouterr().err
        return capsys.readouterr().out.strip()

    omlsvc("db", "init")
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    omlsvc("users", "add", "alice", "--password-stdin")
    model_id = omlsvc(
        "local", "models", "push", str(zoo.zip_path), "--name", "reg", "--version", "1", "--user", "alice"
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'omlsvc.db'}")
    try:
        x, _ = modelzoo._iris()
        tables = [InputTables(engine).features(stem, x[:, :3].copy()) for stem in ("reg_in", "gone_in")]
    finally:
        engine.dispose()
    for table in tables:
        omlsvc("tables", "grant", table, "alice")
        body = {
            "jobProperties": {
                "jobName": table[:10],
                "jobType": "MODEL_SCORING",
                "modelId": model_id,
                "inputData": table,
                "outputData": "PRED",
                "supplementalColumnNames": ["id", "species"],
            },
        }
        (tmp_path / "job.json").write_text(json.dumps(body))
        omlsvc("local", "jobs", "create", str(tmp_path / "job.json"), "--user", "alice")
    engine = make_engine(f"sqlite:///{tmp_path / 'omlsvc.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text(f'DROP TABLE "{tables[1]}"'))
    finally:
        engine.dispose()

    port = free_port()
    shared = tmp_path / "gunicorn-metrics"
    shared.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMLSVC_")}
    env.update(
        OMLSVC_DATA_DIR=str(tmp_path),
        OMLSVC_JOB_POLL="0.2",
        OMLSVC_JOBS_METRICS_BIND=f"127.0.0.1:{port}",
        OMLSVC_METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(shared),
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "omlsvc.cli", "jobs", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                samples = scrape(RunningService(url, worker, tmp_path / "none.log"), METRICS_TOKEN)
            except (urllib.error.URLError, ConnectionError):
                samples = {}
            outcomes = {
                dict(labels).get("outcome"): v
                for (name, labels), v in samples.items()
                if name == "omlsvc_job_runs_total"
            }
            if outcomes.get("succeeded", 0) + outcomes.get("failed", 0) >= 2:
                break
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(0.2)
        assert samples[("omlsvc_job_runs_total", frozenset({("outcome", "succeeded")}))] == 1
        assert samples[("omlsvc_job_runs_total", frozenset({("outcome", "failed")}))] == 1
        assert samples[("omlsvc_job_rows_written_total", frozenset())] == 150
        assert ("omlsvc_database_connections_in_use", frozenset()) in samples
        assert (
            samples[("process_resident_memory_bytes", frozenset())] > 0
        )  # its own process, not a directory's

        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            request = urllib.request.Request(url + "/metrics", headers=headers)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
            refused.value.close()
        assert list(shared.iterdir()) == []  # the gunicorn workers' directory is not written to
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert f"metrics on http://127.0.0.1:{port}/metrics" in output
