"""Request ids: a client's ``X-Request-Id`` is kept when it is a short token, replaced otherwise, and
every answer (errors included) and every log line of the request carries it."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import falcon.testing
import orjson
import pytest

from omlsvc.config import Settings
from omlsvc.core.logs import REQUEST_ID_PATTERN, ContextFilter, JsonFormatter, bound_fields, log_context
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services
from tests.api.conftest import Caller, login
from tests.api.forms import store_model
from tests.api.test_jobs import job_body, runner
from tests.modelzoo import make_zipmap_classifier_zip

MODELS = "/omlmod/v1/models"


@pytest.mark.parametrize("given", ["3f2a9c1e-77b0-4c55-9f0d-1a2b3c4d5e6f", "lb:edge-7.req_42", "x" * 64])
def test_a_valid_request_id_is_echoed_on_success(alice: Caller, given: str) -> None:
    answer = alice.get(MODELS, headers={"X-Request-Id": given})
    assert answer.status_code == 200
    assert answer.headers["X-Request-ID"] == given


@pytest.mark.parametrize(
    ("path", "status"), [(MODELS, 401), ("/omlmod/v1/no-such-thing", 404), ("/omlmod/v1/models/x/y/z", 404)]
)
def test_a_valid_request_id_is_echoed_on_errors(
    client: falcon.testing.TestClient, path: str, status: int
) -> None:
    answer = client.simulate_get(path, headers={"X-Request-Id": "client-given.1"})
    assert answer.status_code == status
    assert answer.headers["X-Request-ID"] == "client-given.1"


@pytest.mark.parametrize(
    "hostile",
    [
        "abc\r\nSet-Cookie: x=1",
        "a" * 1024,
        "x" * 65,
        "réquête-ünïcode",
        "<script>alert(1)</script>",
        "id with spaces",
        "",
    ],
    ids=["crlf", "1KiB", "65-chars", "non-ascii", "markup", "spaces", "empty"],
)
def test_a_hostile_request_id_is_replaced_never_echoed(alice: Caller, hostile: str) -> None:
    answer = alice.get(MODELS, headers={"X-Request-Id": hostile})
    made = answer.headers["X-Request-ID"]
    assert made != hostile
    assert REQUEST_ID_PATTERN.fullmatch(made)
    if hostile:
        assert hostile not in answer.text


def test_without_a_request_id_each_answer_gets_its_own(client: falcon.testing.TestClient) -> None:
    first = client.simulate_get("/health/live").headers["X-Request-ID"]
    second = client.simulate_get("/health/live").headers["X-Request-ID"]
    assert REQUEST_ID_PATTERN.fullmatch(first) and REQUEST_ID_PATTERN.fullmatch(second)
    assert first != second


# -- log lines -------------------------------------------------------------------------------------


class Collected(logging.Handler):
    """Keeps the records as the service's handlers see them (with the context filter)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[Collected]:
    handler = Collected()
    logger = logging.getLogger("omlsvc")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


class ExplodingModels:
    """A repository whose listing fails unexpectedly (with a message that must not reach the client)."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)

    def list_models(self, *args: object, **kwargs: object) -> Any:
        raise RuntimeError("secret row value 4242")


def test_an_unexpected_error_is_logged_with_the_request_id_user_and_route(
    settings: Settings, services: Services, collected: Collected
) -> None:
    broken = dataclasses.replace(services, models=ExplodingModels())  # type: ignore[arg-type]
    client = falcon.testing.TestClient(create_app(settings, services=broken))
    alice = login(client, "alice")
    answer = alice.get(MODELS, headers={"X-Request-Id": "trace-500"})
    assert answer.status_code == 500
    assert answer.headers["X-Request-ID"] == "trace-500"
    assert "trace-500" in answer.json["message"]
    assert "4242" not in answer.text
    [record] = [r for r in collected.records if r.levelno >= logging.ERROR]
    assert (record.request_id, record.user, record.route) == ("trace-500", "alice", MODELS)  # type: ignore[attr-defined]
    assert bound_fields() == {}  # the request's binding ended with it


def test_a_job_names_the_requests_that_created_and_ran_it_and_its_runs_log_their_ids(
    alice: Caller, iris_table: str, services: Services, collected: Collected, tmp_path: Any
) -> None:
    classifier = store_model(alice, make_zipmap_classifier_zip(tmp_path).zip_path, name="iris")
    created = alice.post(
        "/omlmod/v1/jobs",
        json=job_body(classifier, iris_table, disableJob=True),
        headers={"X-Request-Id": "create-job-1"},
    )
    assert created.status_code == 201
    job_id = created.json["jobId"]
    assert (
        alice.client.simulate_post(
            f"/omlmod/v1/jobs/{job_id}/action",
            json={"action": "RUN"},
            headers={**alice.headers, "X-Request-Id": "run-job-1"},
        ).status_code
        == 204
    )
    runner(services).run_until_idle()
    fields = [
        (
            r.getMessage(),
            getattr(r, "request_id", None),
            getattr(r, "job_id", None),
            getattr(r, "run_id", None),
        )
        for r in collected.records
    ]
    assert (f"job {job_id} created", "create-job-1", job_id, None) in fields
    [(_, request_id, _, run_id)] = [f for f in fields if f[0].endswith("requested")]
    assert request_id == "run-job-1" and run_id
    ended = [f for f in fields if f[0].startswith(f"run {run_id} of job {job_id} ended")]
    assert ended == [(f"run {run_id} of job {job_id} ended SUCCEEDED", None, job_id, run_id)]


def test_the_json_formatter_writes_one_object_per_line_with_the_bound_fields() -> None:
    handler = Collected()
    logger = logging.getLogger("omlsvc.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_context(request_id="r-1", user="alice", route="/omlmod/v1/models/{model_id}"):
            logger.warning("model %s refused", "m-1")
            with log_context(job_id="j-1", run_id="run-9"):
                try:
                    raise ValueError("first line\nsecond line")
                except ValueError:
                    logger.exception("the run broke")
            logger.info("no job here", extra={"request_id": "from-extra"})
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in handler.records]
    assert all("\n" not in line for line in lines)
    first, second, third, outside = (orjson.loads(line) for line in lines)
    assert first["message"] == "model m-1 refused"
    assert (first["level"], first["logger"], first["request_id"], first["user"]) == (
        "WARNING",
        "omlsvc.test.json",
        "r-1",
        "alice",
    )
    assert first["route"] == "/omlmod/v1/models/{model_id}"
    assert first["timestamp"].endswith("+00:00") and "T" in first["timestamp"]
    assert "job_id" not in first
    assert (second["job_id"], second["run_id"], second["request_id"]) == ("j-1", "run-9", "r-1")
    assert "ValueError: first line\nsecond line" in second["exc_info"]
    assert third["request_id"] == "from-extra" and "job_id" not in third
    assert not {"request_id", "user", "route", "job_id", "run_id"} & set(outside)
