"""``/omlmod/v1/jobs`` over HTTP, on SQLite and PostgreSQL: submit, inspect, reschedule, act, delete.

A runner (the same one ``omlsvc jobs worker`` runs) is driven in-process where a test needs runs
to happen, so each test reads like a session with the service plus its worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text

from omlsvc.jobs.options import RunnerOptions
from omlsvc.jobs.runner import Runner
from omlsvc.wiring import Services, build_runner
from tests.api.conftest import Caller
from tests.api.forms import store_model
from tests.jobdata import InputTables, count_rows, read_table
from tests.modelzoo import (
    _iris,
    make_kmeans_zip,
    make_regressor_zip,
    make_zipmap_classifier_zip,
)

JOBS = "/omlmod/v1/jobs"


@pytest.fixture
def classifier(alice: Caller, tmp_path: Path) -> str:
    return store_model(alice, make_zipmap_classifier_zip(tmp_path).zip_path, name="iris")


def runner(services: Services, **options: Any) -> Runner:
    return build_runner(services, RunnerOptions(**{"chunk_rows": 40, "lease_s": 5, **options}))


def job_body(model_id: str, input_data: str, **properties: Any) -> dict[str, Any]:
    schedule = properties.pop("schedule", None)
    body: dict[str, Any] = {
        "jobProperties": {
            "jobName": "IRIS_SCORES",
            "jobType": "MODEL_SCORING",
            "modelId": model_id,
            "inputData": input_data,
            "outputData": "IRIS_OUT",
            "supplementalColumnNames": ["ID", "SPECIES"],
            **properties,
        }
    }
    if schedule is not None:
        body["jobSchedule"] = schedule
    return body


def create(caller: Caller, body: dict[str, Any]) -> str:
    result = caller.post(JOBS, json=body)
    assert result.status_code == 201, result.text
    return str(result.json["jobId"])


def path(job_id: str, suffix: str = "") -> str:
    return f"{JOBS}/{job_id.replace('$', '%24')}{suffix}"


def act(caller: Caller, job_id: str, action: str, **extra: Any) -> Any:
    return caller.post(path(job_id, "/action"), json={"action": action, **extra})


# -- submit and read ---------------------------------------------------------------------------------


def test_a_job_is_submitted_and_described_with_its_request_normalised(
    alice: Caller, classifier: str, iris_table: str
) -> None:
    body = job_body(
        classifier,
        iris_table.upper(),
        topN="2",
        recompute="true",
        jobServiceLevel="MEDIUM",
        schedule={
            "jobStartDate": "2030-01-06T02:00:00Z",
            "repeatInterval": "FREQ=WEEKLY;BYDAY=MON",
            "maxRuns": "12",
        },
    )
    result = alice.post(JOBS, json=body)
    assert result.status_code == 201
    job_id = result.json["jobId"]
    assert job_id.startswith("OML$") and len(job_id) == 40
    href = f"http://falconframework.org{JOBS}/OML%24{job_id[4:]}"
    assert result.json["links"] == [{"rel": "self", "href": href}]
    assert result.headers["location"] == href

    details = alice.get(path(job_id)).json
    assert alice.get(f"{JOBS}/{job_id}").json == details  # a raw $ works as well as %24
    assert details["jobRequest"]["jobSchedule"] == {
        "jobStartDate": "2030-01-06T02:00:00Z",
        "jobEndDate": None,
        "repeatInterval": "FREQ=WEEKLY;BYDAY=MON",
        "maxRuns": 12,
    }
    properties = details["jobRequest"]["jobProperties"]
    assert (
        properties["topN"] == 2 and properties["recompute"] is True and properties["inputSchemaName"] is None
    )
    assert properties["topNDetails"] is None and properties["disableJob"] is False
    assert details["jobStatus"] == "CREATED"
    assert details["dateSubmitted"].endswith("Z") and len(details["dateSubmitted"]) == 27
    assert (details["state"], details["enabled"], details["runCount"]) == ("SCHEDULED", True, 0)
    assert details["nextRunDate"] == "2030-01-07T02:00:00.000Z"
    assert details["jobFlags"] == []
    assert "lastRunDetail" not in details
    check = alice.get(path(job_id, "/check"))
    assert check.status_code == 302 and check.headers["location"] == href


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"inputData": "NO_SUCH_TABLE"}, "there is no table or view 'NO_SUCH_TABLE'"),
        ({"inputData": "users"}, "one of omlsvc's own tables"),
        ({"supplementalColumnNames": ["customer_id"]}, "no column 'customer_id'"),
        ({"supplementalColumnNames": ["id"]}, "takes 4 columns but"),
        ({"modelId": "00000000-0000-0000-0000-000000000000"}, "does not exist"),
        ({"jobType": "DATA_MONITORING"}, "unknown field(s) for DATA_MONITORING"),
        ({"jobType": "SCORING"}, "jobType is required and must be one of MODEL_SCORING, DATA_MONITORING"),
        ({"outputData": "9_LIVES"}, "outputData"),
        ({"supplementalFeatures": ["id"]}, "unknown field"),
    ],
)
def test_mistakes_are_400_naming_the_problem(
    alice: Caller, classifier: str, iris_table: str, change: dict[str, Any], fragment: str
) -> None:
    body = job_body(classifier, iris_table)
    body["jobProperties"].update(change)
    result = alice.post(JOBS, json=body)
    assert result.status_code == 400, result.text
    assert result.json["code"] == "INVALID_INPUT"
    assert fragment in result.json["message"]
    assert alice.get(JOBS).json["items"] == []


def test_an_unreadable_schedule_is_400(alice: Caller, classifier: str, iris_table: str) -> None:
    result = alice.post(
        JOBS, json=job_body(classifier, iris_table, schedule={"repeatInterval": "SYSDATE + 1"})
    )
    assert result.status_code == 400
    assert "repeatInterval" in result.json["message"]


def test_jobs_belong_to_their_creator_and_an_admin_sees_all(
    alice: Caller, bob: Caller, admin: Caller, classifier: str, iris_table: str
) -> None:
    job_id = create(alice, job_body(classifier, iris_table))
    assert bob.get(path(job_id)).status_code == 404
    assert act(bob, job_id, "RUN").status_code == 404
    assert bob.delete(path(job_id)).status_code == 404
    assert bob.get(JOBS).json["items"] == []
    assert [j["jobId"] for j in alice.get(JOBS).json["items"]] == [job_id]
    assert [j["jobId"] for j in admin.get(JOBS).json["items"]] == [job_id]
    # alice's private model is not bob's to score
    assert bob.post(JOBS, json=job_body(classifier, iris_table)).status_code == 400


def test_the_list_filters(alice: Caller, classifier: str, iris_table: str, tmp_path: Path) -> None:
    first = create(alice, job_body(classifier, iris_table))
    moment = datetime.now(UTC)
    second = create(alice, job_body(classifier, iris_table, jobName="OTHER", jobServiceLevel="HIGH"))
    after = moment.isoformat().replace("+00:00", "Z")

    def ids(query: str) -> list[str]:
        result = alice.get(JOBS, query_string=query)
        assert result.status_code == 200, result.text
        return [j["jobId"] for j in result.json["items"]]

    assert ids("") == [first, second]
    assert ids("jobName=OTHER") == [second]
    assert ids("jobServiceLevel=HIGH") == [second]
    assert ids(f"modelId={classifier}&jobType=MODEL_SCORING") == [first, second]
    assert ids("jobStatus=CREATED") == [first, second]
    assert ids(f"submittedAfter={after}") == [second]
    assert ids(f"submittedBefore={after}") == [first]
    assert ids("jobFlag=MODEL_DELETED") == []
    assert ids("limit=1") == [first]
    assert alice.get(JOBS, query_string="submittedAfter=yesterday").status_code == 400


def test_a_deleted_model_flags_its_jobs(
    alice: Caller, classifier: str, iris_table: str, services: Services
) -> None:
    job_id = create(alice, job_body(classifier, iris_table, disableJob=True))
    assert alice.delete(f"/omlmod/v1/models/{classifier}").status_code == 204
    assert alice.get(path(job_id)).json["jobFlags"] == ["MODEL_DELETED"]
    assert [j["jobId"] for j in alice.get(JOBS, query_string="jobFlag=MODEL_DELETED").json["items"]] == [
        job_id
    ]
    assert act(alice, job_id, "RUN").status_code == 204
    runner(services).run_until_idle()
    (run,) = alice.get(path(job_id, "/runs")).json
    assert run["jobRunStatus"] == "FAILED"
    assert "was deleted" in run["errorMessage"]


# -- change ------------------------------------------------------------------------------------------


def test_the_schedule_is_updated_in_part(alice: Caller, classifier: str, iris_table: str) -> None:
    job_id = create(
        alice, job_body(classifier, iris_table, schedule={"jobStartDate": "2030-01-01T00:00:00Z"})
    )
    result = alice.post(
        path(job_id), json={"jobSchedule": {"repeatInterval": "FREQ=DAILY;BYHOUR=6", "maxRuns": 5}}
    )
    assert result.status_code == 204, result.text
    details = alice.get(path(job_id)).json
    assert details["jobStatus"] == "UPDATED"
    assert details["jobRequest"]["jobSchedule"] == {
        "jobStartDate": "2030-01-01T00:00:00Z",
        "jobEndDate": None,
        "repeatInterval": "FREQ=DAILY;BYHOUR=6",
        "maxRuns": 5,
    }
    assert details["nextRunDate"] == "2030-01-01T06:00:00.000Z"
    assert alice.post(path(job_id), json={"jobProperties": {"topN": 3}}).status_code == 400
    assert alice.post(path(job_id), json={"jobSchedule": {"maxRuns": -1}}).status_code == 400


def test_actions_follow_the_scheduler_rules(
    alice: Caller, classifier: str, iris_table: str, services: Services
) -> None:
    job_id = create(
        alice, job_body(classifier, iris_table, schedule={"jobStartDate": "2030-01-01T00:00:00Z"})
    )
    assert act(alice, job_id, "DISABLE").status_code == 204
    details = alice.get(path(job_id)).json
    assert (details["state"], details["enabled"], details["nextRunDate"]) == ("DISABLED", False, None)
    assert act(alice, job_id, "ENABLE").status_code == 204
    assert alice.get(path(job_id)).json["enabled"] is True

    assert act(alice, job_id, "RUN").status_code == 204
    again = act(alice, job_id, "RUN")
    assert again.status_code == 409 and "in progress" in again.json["message"]
    refused = act(alice, job_id, "DISABLE", force="false")
    assert refused.status_code == 409 and "force" in refused.json["message"]
    assert act(alice, job_id, "STOP").status_code == 204
    assert act(alice, job_id, "STOP").status_code == 409
    (run,) = alice.get(path(job_id, "/runs")).json
    assert run["jobRunStatus"] == "STOPPED"

    assert act(alice, job_id, "RUN").status_code == 204
    assert act(alice, job_id, "DISABLE", force=True).status_code == 204
    runner(services).run_until_idle()  # a forced DISABLE lets the run in progress finish
    runs = alice.get(path(job_id, "/runs")).json
    assert [r["jobRunStatus"] for r in runs] == ["SUCCEEDED", "STOPPED"]
    assert alice.get(path(job_id, "/runs"), query_string="limit=1").json == runs[:1]
    assert act(alice, job_id, "PAUSE").status_code == 400
    assert alice.post(path(job_id, "/action"), json={"action": "RUN", "when": "now"}).status_code == 400


def test_run_is_refused_once_max_runs_or_the_end_date_is_reached(
    alice: Caller, classifier: str, iris_table: str
) -> None:
    ended = create(alice, job_body(classifier, iris_table, schedule={"jobEndDate": "2020-01-01T00:00:00Z"}))
    result = act(alice, ended, "RUN")
    assert result.status_code == 409 and "jobEndDate" in result.json["message"]


def test_delete_removes_the_job_and_optionally_its_output(
    alice: Caller, classifier: str, iris_table: str, services: Services, database: tuple[str, Engine]
) -> None:
    keep = create(alice, job_body(classifier, iris_table))
    drop = create(alice, job_body(classifier, iris_table))
    runner(services).run_until_idle()
    assert alice.delete(path(keep)).status_code == 204
    assert alice.get(path(keep)).status_code == 404
    assert count_rows(database[1], f"{keep}_IRIS_OUT") == 150  # the results outlive the job
    assert alice.delete(path(drop), query_string="dropOutputTable=true").status_code == 204
    with pytest.raises(Exception, match=r"(?i)no such table|does not exist"):
        count_rows(database[1], f"{drop}_IRIS_OUT")


# -- runs ------------------------------------------------------------------------------------------


def test_a_run_writes_what_the_score_endpoint_returns(
    alice: Caller, classifier: str, iris_table: str, services: Services, database: tuple[str, Engine]
) -> None:
    job_id = create(alice, job_body(classifier, iris_table, topN=2))
    worker = runner(services)
    worker.run_until_idle()
    assert worker.stats.chunks == 4  # 150 rows in chunks of 40

    details = alice.get(path(job_id)).json
    assert (details["state"], details["runCount"], details["nextRunDate"]) == ("COMPLETED", 1, None)
    assert details["lastRunStatus"] == "SUCCEEDED"
    detail = details["lastRunDetail"]
    assert detail["jobRunStatus"] == "SUCCEEDED" and detail["errorMessage"] is None
    assert detail["duration"].startswith("0 0:0:")
    (run,) = alice.get(path(job_id, "/runs")).json
    assert run["rowsScored"] == 150

    rows = read_table(database[1], f"{job_id}_IRIS_OUT")
    assert list(rows[0]) == [
        "id", "species", "OML$PREDICTION1", "OML$PROBABILITY1", "OML$PREDICTION2", "OML$PROBABILITY2",
    ]  # fmt: skip
    assert alice.post("/omlmod/v1/deployment", json={"modelId": classifier, "uri": "iris"}).status_code == 201
    x, _ = _iris()
    scored = alice.post(
        "/omlmod/v1/deployment/iris/score", json={"inputRecords": [{"float_input": x.tolist()}], "topN": 2}
    ).json["scoringResults"]
    assert len(rows) == len(scored) == 150
    for row, result in zip(rows, scored, strict=True):
        best, second = result["classifications"]
        assert (row["OML$PREDICTION1"], row["OML$PREDICTION2"]) == (best["label"], second["label"])
        assert row["OML$PROBABILITY1"] == pytest.approx(best["probability"], abs=1e-6)
        assert row["OML$PROBABILITY2"] == pytest.approx(second["probability"], abs=1e-6)


def test_recompute_replaces_the_output_and_append_adds_to_it(
    alice: Caller, tmp_path: Path, tables: InputTables, services: Services, database: tuple[str, Engine]
) -> None:
    model = store_model(alice, make_regressor_zip(tmp_path).zip_path, name="reg")
    x, _ = _iris()
    table = tables.features("reg_in", x[:, :3])
    replace = create(alice, job_body(model, table, recompute=True))
    append = create(alice, job_body(model, table))
    worker = runner(services)
    worker.run_until_idle()
    for job_id in (replace, append):
        assert act(alice, job_id, "RUN").status_code == 204
    worker.run_until_idle()
    assert count_rows(database[1], f"{replace}_IRIS_OUT") == 150
    assert count_rows(database[1], f"{append}_IRIS_OUT") == 300
    rows = read_table(database[1], f"{replace}_IRIS_OUT")
    assert list(rows[0]) == ["id", "species", "OML$PREDICTION"]


def test_a_clustering_job_with_distances_writes_nearest_first(
    alice: Caller, tmp_path: Path, iris_table: str, services: Services, database: tuple[str, Engine]
) -> None:
    model = store_model(alice, make_kmeans_zip(tmp_path).zip_path, name="km")
    job_id = create(alice, job_body(model, iris_table, topN=3))
    runner(services).run_until_idle()
    rows = read_table(database[1], f"{job_id}_IRIS_OUT")
    assert list(rows[0])[2:] == [
        "OML$CLUSTER_ID1", "OML$DISTANCE1", "OML$CLUSTER_ID2", "OML$DISTANCE2", "OML$CLUSTER_ID3", "OML$DISTANCE3",
    ]  # fmt: skip
    distances = np.array([[r["OML$DISTANCE1"], r["OML$DISTANCE2"], r["OML$DISTANCE3"]] for r in rows])
    assert (np.diff(distances, axis=1) >= 0).all()
    assert {r["OML$CLUSTER_ID1"] for r in rows} == {"0", "1", "2"}


def test_a_scheduled_job_runs_on_its_schedule_until_max_runs(
    alice: Caller, classifier: str, iris_table: str, services: Services
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    start = now + timedelta(minutes=1)
    schedule = {"jobStartDate": start.isoformat() + "Z", "repeatInterval": "FREQ=HOURLY", "maxRuns": 2}
    job_id = create(alice, job_body(classifier, iris_table, recompute=True, schedule=schedule))
    assert alice.get(path(job_id)).json["nextRunDate"] == start.isoformat() + ".000Z"

    def runner_at(moment: datetime) -> Runner:
        return build_runner(services, RunnerOptions(chunk_rows=1000), clock=lambda: moment)

    runner_at(now).run_until_idle()
    assert alice.get(path(job_id)).json["runCount"] == 0  # not due yet
    runner_at(start + timedelta(seconds=5)).run_until_idle()
    details = alice.get(path(job_id)).json
    assert details["runCount"] == 1
    assert details["nextRunDate"] == (start + timedelta(hours=1)).isoformat() + ".000Z"
    assert act(alice, job_id, "RUN").status_code == 204  # ad hoc: does not count towards maxRuns
    runner_at(start + timedelta(seconds=10)).run_until_idle()
    assert alice.get(path(job_id)).json["runCount"] == 1
    runner_at(start + timedelta(hours=1, seconds=5)).run_until_idle()
    details = alice.get(path(job_id)).json
    assert (details["runCount"], details["nextRunDate"], details["state"]) == (2, None, "COMPLETED")
    assert [r["jobRunStatus"] for r in alice.get(path(job_id, "/runs")).json] == ["SUCCEEDED"] * 3
    assert act(alice, job_id, "RUN").status_code == 409  # maxRuns reached
    assert act(alice, job_id, "DISABLE").status_code == 204
    assert act(alice, job_id, "ENABLE").status_code == 204  # re-enabling starts the count again
    assert alice.get(path(job_id)).json["runCount"] == 0


def test_a_failing_run_records_why(
    alice: Caller, classifier: str, tables: InputTables, services: Services, database: tuple[str, Engine]
) -> None:
    x, _ = _iris()
    table = tables.features("gone_in", x)
    job_id = create(alice, job_body(classifier, table, disableJob=True))
    with database[1].begin() as connection:
        connection.execute(text(f'DROP TABLE "{table}"'))
    assert act(alice, job_id, "RUN").status_code == 204
    runner(services).run_until_idle()
    (run,) = alice.get(path(job_id, "/runs")).json
    assert run["jobRunStatus"] == "FAILED"
    assert "there is no table or view" in run["errorMessage"]
    assert alice.get(path(job_id)).json["lastRunStatus"] == "FAILED"


def test_an_output_name_too_long_for_the_database_is_400(
    alice: Caller, classifier: str, iris_table: str, database: tuple[str, Engine]
) -> None:
    room = database[1].dialect.max_identifier_length - len("OML$") - 36 - 1
    if room >= 127:
        pytest.skip("this database has no practical identifier limit")
    result = alice.post(JOBS, json=job_body(classifier, iris_table, outputData="X" * (room + 1)))
    assert result.status_code == 400
    assert f"which leaves {room} for outputData" in result.json["message"]
    assert alice.post(JOBS, json=job_body(classifier, iris_table, outputData="X" * room)).status_code == 201
