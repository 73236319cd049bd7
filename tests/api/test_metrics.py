"""``GET /metrics``: the Prometheus scrape, read with prometheus_client's own text parser.

Access: ``OMLSVC_METRICS_TOKEN`` or an OML access token, else 401. Series that name a deployment are
shown whole to the metrics token and to admins; a user sees only the deployments the user may see.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import time
from collections import Counter
from pathlib import Path

import falcon.testing
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services, build_services
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model
from tests.api.test_jobs import act, classifier, create, job_body, runner  # noqa: F401
from tests.modelzoo import _iris

METRICS_TOKEN = "scraper-token-for-tests-0123456789"
SCORE_ROUTE = "/omlmod/v1/deployment/{uri}/score"
DASHBOARD = Path(__file__).resolve().parents[2] / "packaging" / "grafana" / "omlsvc.json"
ROWS = [{"float_input": [[5.0, 3.5, 1.25]]}, {"float_input": [[1.0, 2.0, 3.0]]}]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, metrics_token=METRICS_TOKEN)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: falcon.testing.TestClient, token: str) -> Samples:
    result = client.simulate_get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert result.status_code == 200, result.text
    assert result.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(result.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def deployments_named(samples: Samples) -> set[str]:
    return {dict(labels)["deployment"] for _, labels in samples if "deployment" in dict(labels)}


def deploy(caller: Caller, tmp_path: Path, uri: str, *, shared: bool = False) -> None:
    (tmp_path / uri).mkdir()
    zoo = modelzoo.make_regressor_zip(tmp_path / uri)
    model_id = store_model(caller, zoo.zip_path, name=uri, shared="true" if shared else None)
    result = caller.post("/omlmod/v1/deployment", json={"modelId": model_id, "uri": uri})
    assert result.status_code == 201, result.text


def score(caller: Caller, uri: str) -> falcon.testing.Result:
    return caller.post(f"/omlmod/v1/deployment/{uri}/score", json={"inputRecords": ROWS})


def test_requests_are_counted_by_route_family_method_and_status_class(
    client: falcon.testing.TestClient, alice: Caller, admin: Caller, tmp_path: Path
) -> None:
    deploy(alice, tmp_path, "house_rg")
    for _ in range(3):
        assert score(alice, "house_rg").status_code == 200
    assert alice.get("/omlmod/v1/deployment/nowhere").status_code == 404
    assert client.simulate_get("/no/such/path").status_code == 404

    samples = scrape(client, admin.token)
    requests = "omlsvc_http_requests_total"
    assert value(samples, requests, route=SCORE_ROUTE, method="POST", status_class="2xx") == 3
    assert (
        value(samples, requests, route="/omlmod/v1/deployment/{uri}", method="GET", status_class="4xx") == 1
    )
    assert value(samples, requests, route="unmatched", method="GET", status_class="4xx") == 1
    assert value(samples, "omlsvc_http_request_duration_seconds_count", route=SCORE_ROUTE) == 3
    routes = {dict(labels).get("route") for _, labels in samples} - {None}
    assert not {r for r in routes if "nowhere" in r or "no/such" in r or "house_rg" in r}  # families only


def test_scoring_is_split_by_deployment_and_phase_and_rows_are_counted(
    client: falcon.testing.TestClient, alice: Caller, admin: Caller, tmp_path: Path
) -> None:
    deploy(alice, tmp_path, "house_rg")
    for _ in range(3):
        assert score(alice, "house_rg").status_code == 200

    samples = scrape(client, admin.token)
    assert value(samples, "omlsvc_scoring_requests_total", deployment="house_rg") == 3
    assert value(samples, "omlsvc_scoring_rows_total", deployment="house_rg") == 3 * len(ROWS)
    for phase in ("preprocess", "run", "format"):
        assert value(samples, "omlsvc_scoring_seconds_count", deployment="house_rg", phase=phase) == 3
    # the deploy loaded the session (one miss, one load); every score then found it
    assert value(samples, "omlsvc_session_cache_lookups_total", result="miss") == 1
    assert value(samples, "omlsvc_session_cache_lookups_total", result="hit") == 3
    assert value(samples, "omlsvc_session_load_seconds_count") == 1
    assert value(samples, "omlsvc_worker_resident_memory_bytes") > 0
    assert value(samples, "process_resident_memory_bytes") > 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not.a.token"}, {"Authorization": f"Basic {METRICS_TOKEN}"}],
    ids=["none", "garbage", "not-bearer"],
)
def test_a_scrape_without_a_valid_token_is_401(
    client: falcon.testing.TestClient, headers: dict[str, str]
) -> None:
    result = client.simulate_get("/metrics", headers=headers)
    assert result.status_code == 401
    assert result.json["code"] == "UNAUTHORIZED"
    assert "omlsvc_" not in result.text


def test_a_user_sees_no_private_deployment_of_another_user(
    client: falcon.testing.TestClient, alice: Caller, bob: Caller, admin: Caller, tmp_path: Path
) -> None:
    deploy(alice, tmp_path, "alice_private")
    deploy(alice, tmp_path, "alice_shared", shared=True)
    deploy(bob, tmp_path, "bob_private")
    for caller, uri in ((alice, "alice_private"), (alice, "alice_shared"), (bob, "bob_private")):
        assert score(caller, uri).status_code == 200

    assert deployments_named(scrape(client, bob.token)) == {"alice_shared", "bob_private"}
    assert deployments_named(scrape(client, alice.token)) == {"alice_private", "alice_shared"}
    everything = {"alice_private", "alice_shared", "bob_private"}
    assert deployments_named(scrape(client, admin.token)) == everything
    # what names nobody is the same for everyone
    bobs = scrape(client, bob.token)
    assert (
        value(bobs, "omlsvc_http_requests_total", route=SCORE_ROUTE, method="POST", status_class="2xx") == 3
    )


def test_the_metrics_token_sees_every_deployment(
    client: falcon.testing.TestClient, alice: Caller, bob: Caller, tmp_path: Path
) -> None:
    deploy(alice, tmp_path, "alice_private")
    deploy(bob, tmp_path, "bob_private")
    assert score(alice, "alice_private").status_code == 200
    assert score(bob, "bob_private").status_code == 200
    assert deployments_named(scrape(client, METRICS_TOKEN)) == {"alice_private", "bob_private"}
    # it is not an OML token: it opens nothing else
    refused = client.simulate_get("/omlmod/v1/models", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert refused.status_code == 401


def test_refused_logins_are_counted(client: falcon.testing.TestClient, admin: Caller) -> None:
    for _ in range(2):
        wrong = client.simulate_post(
            "/omlusers/api/oauth2/v1/token",
            json={"grant_type": "password", "username": "alice", "password": "not her password"},
        )
        assert wrong.status_code == 401
    samples = scrape(client, admin.token)
    assert value(samples, "omlsvc_login_failures_total") == 2
    assert value(samples, "omlsvc_logins_throttled_total") == 0


def test_batch_job_runs_and_rows_written_are_counted(
    client: falcon.testing.TestClient,
    alice: Caller,
    admin: Caller,
    classifier: str,  # noqa: F811
    iris_table: str,
    services: Services,
) -> None:
    job_id = create(alice, job_body(classifier, iris_table, disableJob=True))
    assert act(alice, job_id, "RUN").status_code == 204
    runner(services).run_until_idle()
    samples = scrape(client, admin.token)
    assert value(samples, "omlsvc_job_runs_total", outcome="succeeded") == 1
    assert value(samples, "omlsvc_job_runs_total", outcome="failed") == 0
    assert value(samples, "omlsvc_job_rows_written_total") == len(_iris()[0])


def test_every_app_counts_for_itself(
    settings: Settings, database: tuple[str, Engine], client: falcon.testing.TestClient, admin: Caller
) -> None:
    assert client.simulate_get("/health/live").status_code == 200
    other = falcon.testing.TestClient(
        create_app(settings, services=build_services(settings, engine=database[1]))
    )
    assert other.simulate_get("/health/live").status_code == 200
    live = {"route": "/health/live", "method": "GET", "status_class": "2xx"}
    assert value(scrape(client, admin.token), "omlsvc_http_requests_total", **live) == 1
    assert value(scrape(other, METRICS_TOKEN), "omlsvc_http_requests_total", **live) == 1


def exposed_names(client: falcon.testing.TestClient, token: str) -> set[str]:
    """Every series name a scrape may carry, from the families' types (a labelled family shows no
    sample before its first event)."""
    result = client.simulate_get("/metrics", headers={"Authorization": f"Bearer {token}"})
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(result.text)
        for suffix in suffixes.get(family.type, ("",))
    }


def test_every_dashboard_query_names_a_metric_the_service_exposes(
    client: falcon.testing.TestClient, admin: Caller
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 6
    exposed = exposed_names(client, admin.token)
    for expr in exprs:
        named = set(re.findall(r"\b(?:omlsvc|process)_[a-z_]+\b", expr))
        assert named, expr
        assert named <= exposed, f"{expr}: {sorted(named - exposed)}"


def test_a_canarys_answers_are_counted_apart_from_the_main_models(
    client: falcon.testing.TestClient, alice: Caller, tmp_path: Path
) -> None:
    deploy(alice, tmp_path, "house")
    (tmp_path / "canary").mkdir()
    canary = store_model(alice, modelzoo.make_regressor_zip(tmp_path / "canary").zip_path, name="house_next")
    changed = alice.put("/omlmod/v1/deployment/house", json={"canary": {"modelId": canary, "percent": 50}})
    assert changed.status_code == 200, changed.text
    answered_by = Counter(score(alice, "house").headers["X-Omlsvc-Model-Id"] for _ in range(60))
    samples = scrape(client, METRICS_TOKEN)
    assert (
        value(samples, "omlsvc_scoring_answers_total", deployment="house", variant="canary")
        == (answered_by[canary])
    )
    assert value(samples, "omlsvc_scoring_answers_total", deployment="house", variant="main") == (
        60 - answered_by[canary]
    )
    assert 0 < answered_by[canary] < 60


# -- issue 18: queue wait, images apart from rows, the database ------------------------------------------


def test_queue_wait_runs_from_the_arrival_a_trusted_front_dates(
    settings: Settings, services: Services, client: falcon.testing.TestClient, alice: Caller, tmp_path: Path
) -> None:
    """Without a front the queue phase starts at the worker thread (a few ms here); behind a trusted
    proxy its ``X-Request-Start`` dates the arrival, so the wait in front of the worker counts; from
    anyone else that header is ignored."""
    deploy(alice, tmp_path, "house_rg")
    assert score(alice, "house_rg").status_code == 200
    queue = {"deployment": "house_rg", "phase": "queue"}
    direct = scrape(client, METRICS_TOKEN)
    assert value(direct, "omlsvc_scoring_seconds_count", **queue) == 1
    before = value(direct, "omlsvc_scoring_seconds_sum", **queue)

    two_seconds_ago = f"t={time.time() - 2.0:.3f}"
    forged = alice.post(
        "/omlmod/v1/deployment/house_rg/score",
        json={"inputRecords": ROWS},
        headers={"X-Request-Start": two_seconds_ago},
    )
    assert forged.status_code == 200
    after_forged = value(scrape(client, METRICS_TOKEN), "omlsvc_scoring_seconds_sum", **queue)
    assert after_forged - before < 2.0  # not believed: the wait it claims is not counted

    proxied = dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    behind = falcon.testing.TestClient(create_app(proxied, services=services))
    answer = behind.simulate_post(
        "/omlmod/v1/deployment/house_rg/score",
        json={"inputRecords": ROWS},
        headers={**alice.headers, "X-Request-Start": two_seconds_ago},
        remote_addr="127.0.0.1",
    )
    assert answer.status_code == 200
    samples = scrape(behind, METRICS_TOKEN)
    assert value(samples, "omlsvc_scoring_seconds_count", **queue) == 3
    assert value(samples, "omlsvc_scoring_seconds_sum", **queue) - after_forged >= 2.0  # believed
    for phase in ("preprocess", "run", "format"):
        assert value(samples, "omlsvc_scoring_seconds_count", deployment="house_rg", phase=phase) == 3


def test_images_are_counted_apart_from_rows(
    client: falcon.testing.TestClient, alice: Caller, tmp_path: Path
) -> None:
    import base64

    from tests.api.forms import multipart

    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    assert zoo.image_png is not None
    model_id = store_model(alice, zoo.zip_path, name="pets", model_type="ONNX_IMG")
    assert alice.post("/omlmod/v1/deployment", json={"modelId": model_id, "uri": "pets"}).status_code == 201
    body, content_type = multipart({}, {"imageData": ("cat.png", zoo.image_png)})
    assert (
        alice.post(
            "/omlmod/v1/deployment/pets/score", body=body, headers={"Content-Type": content_type}
        ).status_code
        == 200
    )
    photo = base64.b64encode(zoo.image_png).decode()
    records = {"inputRecords": [{"image": photo}, {"image": photo}]}
    assert alice.post("/omlmod/v1/deployment/pets/score", json=records).status_code == 200
    deploy(alice, tmp_path, "house_rg")
    assert score(alice, "house_rg").status_code == 200

    samples = scrape(client, METRICS_TOKEN)
    assert value(samples, "omlsvc_scoring_images_total", deployment="pets") == 3
    assert value(samples, "omlsvc_scoring_rows_total", deployment="pets") == 0
    assert value(samples, "omlsvc_scoring_rows_total", deployment="house_rg") == len(ROWS)
    assert value(samples, "omlsvc_scoring_images_total", deployment="house_rg") == 0


def test_database_connections_in_use_are_a_gauge(
    client: falcon.testing.TestClient, services: Services
) -> None:
    idle = value(scrape(client, METRICS_TOKEN), "omlsvc_database_connections_in_use")
    with services.engine.connect(), services.engine.connect():
        busy = value(scrape(client, METRICS_TOKEN), "omlsvc_database_connections_in_use")
    assert busy - idle == 2
    assert value(scrape(client, METRICS_TOKEN), "omlsvc_database_connections_in_use") == idle


def test_database_errors_are_counted_by_kind(tmp_path: Path) -> None:
    """A service whose database has lost its tables: every request that reaches it fails there."""
    settings = dataclasses.replace(Settings.for_tests(tmp_path / "empty"), metrics_token=METRICS_TOKEN)
    broken = falcon.testing.TestClient(create_app(settings))
    answer = broken.simulate_post(
        "/omlusers/api/oauth2/v1/token",
        json={"grant_type": "password", "username": "alice", "password": "pw"},
    )
    assert answer.status_code >= 500
    samples = scrape(broken, METRICS_TOKEN)
    assert value(samples, "omlsvc_database_errors_total", kind="operational") >= 1
    assert value(samples, "omlsvc_database_errors_total", kind="integrity") == 0
