"""Monitoring jobs over HTTP, on SQLite and PostgreSQL (spec ``oml-monitoring.md``): DATA_MONITORING,
MODEL_MONITORING and DATA_BIAS submitted, run by the same runner as batch scoring, their output
tables read back with SQL as Oracle's examples read them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from sklearn import metrics as sk
from sqlalchemy import Column, DateTime, Engine, Float, Integer, String, inspect, text

from omlsvc.db.transactions import Transactions
from omlsvc.jobs.grants import TableGrantService
from omlsvc.jobs.options import RunnerOptions
from omlsvc.wiring import Services, build_runner
from tests.api.conftest import Caller
from tests.api.forms import store_model
from tests.api.test_jobs import JOBS, path
from tests.jobdata import InputTables
from tests.modelzoo import (
    IRIS_CLASSES,
    _iris,
    make_kmeans_zip,
    make_linear_regressor_zip,
    make_plain_classifier_zip,
    make_zipmap_classifier_zip,
)


def create(caller: Caller, properties: dict[str, Any], schedule: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"jobProperties": properties}
    if schedule is not None:
        body["jobSchedule"] = schedule
    result = caller.post(JOBS, json=body)
    assert result.status_code == 201, result.text
    return str(result.json["jobId"])


def run_now(caller: Caller, services: Services, job_id: str) -> dict[str, Any]:
    """Ask for a run and let a runner do it; the run's record."""
    result = caller.post(path(job_id, "/action"), json={"action": "RUN"})
    assert result.status_code == 204, result.text
    build_runner(services, RunnerOptions(lease_s=30)).run_until_idle()
    runs = caller.get(path(job_id, "/runs")).json
    return dict(runs[0])


def rows_of(engine: Engine, table: str, order: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(r._mapping) for r in connection.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))
        ]


# -- data monitoring ---------------------------------------------------------------------------------

START = datetime(2025, 1, 1)


def drift_tables(tables: InputTables, *, shift: float) -> tuple[str, str]:
    """A baseline of 400 rows and new data of 400 rows over January and February 2025, where AMOUNT
    moves by ``shift`` standard deviations and INCOME and PURPOSE keep their distribution."""
    rng = np.random.default_rng(7)
    purposes = np.asarray(["CAR", "HOUSE", "STUDY"], dtype=object)

    def columns(rows: int, move: float) -> list[Any]:
        return [
            np.arange(rows),
            rng.normal(100 + 20 * move, 20, rows),
            rng.normal(50, 10, rows),
            purposes[rng.integers(0, 3, rows)],
        ]

    def loan_columns() -> list[Column[Any]]:  # a table's own, so made anew for each
        return [
            Column("loan_id", Integer, primary_key=True, autoincrement=False),
            Column("amount", Float),
            Column("income", Float),
            Column("purpose", String(10)),
        ]

    base = tables.table("loans_base", loan_columns(), columns(400, 0))
    live = columns(400, shift)
    applied = [START + timedelta(hours=3 * i) for i in range(200)] + [
        START + timedelta(days=31, hours=3 * i) for i in range(200)
    ]
    new = tables.table("loans_live", [*loan_columns(), Column("applied_at", DateTime)], [*live, applied])
    return base, new


def data_job(base: str, new: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobName": "LOANS_DRIFT",
        "jobType": "DATA_MONITORING",
        "outputData": "LOANS_DRIFT_OUT",
        "baselineData": base.upper(),
        "newData": new,
        "timeColumn": "APPLIED_AT",
        "endDate": "2025-03-01T00:00:00Z",
        "frequency": "Month",
        "caseidColumn": "LOAN_ID",
        **extra,
    }


def test_data_monitoring_flags_the_drifting_feature_and_not_the_stable_ones(
    alice: Caller, services: Services, tables: InputTables
) -> None:
    base, new = drift_tables(tables, shift=2.5)
    job_id = create(alice, data_job(base, new))
    echo = alice.get(path(job_id)).json["jobRequest"]["jobProperties"]
    assert list(echo) == [
        "jobType", "inputSchemaName", "outputSchemaName", "outputData", "jobDescription", "jobName",
        "disableJob", "jobServiceLevel", "baselineData", "newData", "timeColumn", "startDate", "endDate",
        "frequency", "threshold", "recompute", "caseidColumn", "featureList", "anchorColumn",
    ]  # fmt: skip
    assert (echo["frequency"], echo["threshold"], echo["recompute"]) == ("Month", None, False)

    run = run_now(alice, services, job_id)
    assert run["jobRunStatus"] == "SUCCEEDED", run
    rows = rows_of(
        services.engine, f"{job_id}_LOANS_DRIFT_OUT", '"FEATURE_NAME", "IS_BASELINE" DESC, "START_TIME"'
    )
    assert [(r["FEATURE_NAME"].upper(), r["IS_BASELINE"]) for r in rows] == [
        (f, b) for f in ("AMOUNT", "INCOME", "PURPOSE") for b in (1, 0, 0)
    ]
    periods = [r for r in rows if r["IS_BASELINE"] == 0]
    by_feature = {(r["FEATURE_NAME"].upper(), str(r["START_TIME"])[:10]): r for r in periods}
    for r in periods:
        assert r["HAS_DRIFT"] == 1 and r["DRIFT"] > 0.9 and r["THRESHOLD"] == 0.7
    for month in ("2025-01-01", "2025-02-01"):
        amount, income, purpose = (by_feature[(f, month)] for f in ("AMOUNT", "INCOME", "PURPOSE"))
        assert amount["IMPORTANCE_VALUE"] > 0.5
        assert income["IMPORTANCE_VALUE"] < 0.1 and purpose["IMPORTANCE_VALUE"] < 0.1
        psi = {f: json.loads(r["FEATURE_METRICS"])["population_stability_index"] for f, r in
               (("AMOUNT", amount), ("INCOME", income), ("PURPOSE", purpose))}  # fmt: skip
        assert psi["AMOUNT"] > 0.5 and psi["INCOME"] < 0.1 and psi["PURPOSE"] < 0.1
    baseline = json.loads(next(r for r in rows if r["IS_BASELINE"] == 1)["FEATURE_METRICS"])
    assert set(baseline) >= {
        "number_of_missing_values",
        "min_value",
        "max_value",
        "mean_value",
        "bin_distribution",
    }
    assert (
        len(baseline["bin_distribution"]) == 5
        and baseline["bin_distribution"][-1]["bin_upper_boundary"] is None
    )


def test_stable_data_has_no_drift(alice: Caller, services: Services, tables: InputTables) -> None:
    base, new = drift_tables(tables, shift=0.0)
    job = data_job(base, new, featureList=["AMOUNT", "INCOME"], threshold="0.80", anchorColumn="PURPOSE")
    job_id = create(alice, job)
    assert run_now(alice, services, job_id)["jobRunStatus"] == "SUCCEEDED"
    rows = rows_of(services.engine, f"{job_id}_LOANS_DRIFT_OUT", '"START_TIME"')
    assert len(rows) == 2 + 2 * 2
    assert all(r["HAS_DRIFT"] == 0 and r["DRIFT"] < 0.8 for r in rows if r["IS_BASELINE"] == 0)
    # the anchor's distribution per feature bin (bivariate view)
    anchor = json.loads(rows[0]["FEATURE_METRICS"])["anchor_bin_statistics"]
    assert [b["bin"] for b in anchor] == [0, 1, 2, 3, 4]  # the feature's 5 bins
    shares = [
        sum(a["percentage"] for a in b["anchor_distribution"]) for b in anchor if b["anchor_distribution"]
    ]
    assert shares and all(total == pytest.approx(1.0, abs=1e-3) for total in shares)
    assert {a["anchor_value"] for b in anchor for a in b["anchor_distribution"]} <= {"CAR", "HOUSE", "STUDY"}


# -- model monitoring --------------------------------------------------------------------------------

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def iris_tables(tables: InputTables) -> tuple[str, str, np.ndarray, list[str]]:
    """Baseline: iris as it is; new data: iris with a little noise in week 1 of February 2025 and a lot
    in week 2. Returns the table names, the new rows' features and their true classes."""
    x, y = _iris()
    species = [IRIS_CLASSES[i] for i in y]
    rng = np.random.default_rng(3)
    new_x = np.vstack([x + rng.normal(0, 0.1, x.shape), x + rng.normal(0, 0.9, x.shape)]).astype(np.float32)
    new_species = species * 2
    start = datetime(2025, 2, 1)
    when = [start + timedelta(hours=i) for i in range(150)] + [
        start + timedelta(days=7, hours=i) for i in range(150)
    ]

    def columns(time: bool) -> list[Column[Any]]:
        made = [Column("id", Integer, primary_key=True, autoincrement=False)]
        made += [Column(name, Float) for name in IRIS]
        made.append(Column("species", String(20)))
        return [*made, Column("scored_on", DateTime)] if time else made

    base = tables.table("iris_base", columns(False), [np.arange(150), *x.T.astype(np.float64), species])
    new = tables.table(
        "iris_new", columns(True), [np.arange(300), *new_x.T.astype(np.float64), new_species, when]
    )
    return base, new, new_x, new_species


def expected_metrics(
    session: ort.InferenceSession, x: np.ndarray, actual: list[str], plain: bool
) -> dict[str, float]:
    """scikit-learn's metrics on onnxruntime's own predictions for the same rows."""
    labels, probabilities = session.run(None, {"float_input": x})
    if plain:
        predicted = [IRIS_CLASSES[int(i)] for i in labels]
        proba = np.asarray(probabilities)
    else:
        predicted = [str(label) for label in labels]
        proba = np.asarray([[row[c] for c in IRIS_CLASSES] for row in probabilities])
    return {
        "Accuracy": sk.accuracy_score(actual, predicted),
        "Balanced accuracy": sk.balanced_accuracy_score(actual, predicted),
        "AUC": sk.roc_auc_score(actual, proba, multi_class="ovr", average="macro", labels=list(IRIS_CLASSES)),
        "F1": sk.f1_score(actual, predicted, average="macro"),
        "Precision": sk.precision_score(actual, predicted, average="macro"),
        "Recall": sk.recall_score(actual, predicted, average="macro"),
    }


def test_model_monitoring_of_two_models_matches_scikit_learn_on_onnxruntime_predictions(
    alice: Caller, services: Services, tables: InputTables, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    zipmap = make_zipmap_classifier_zip(tmp_path / "a")
    plain = make_plain_classifier_zip(tmp_path / "b")
    ids = [
        store_model(alice, zipmap.zip_path, name="iris_a"),
        store_model(alice, plain.zip_path, name="iris_b"),
    ]
    base, new, new_x, new_species = iris_tables(tables)
    job_id = create(
        alice,
        {
            "jobName": "IRIS_QUALITY",
            "jobType": "MODEL_MONITORING",
            "outputData": "IRIS_QUALITY_OUT",
            "baselineData": base,
            "newData": new,
            "timeColumn": "SCORED_ON",
            "endDate": "2025-02-15T00:00:00Z",
            "frequency": "week",
            "threshold": 0.1,
            "caseidColumn": "ID",
            "targetColumn": "SPECIES",
            "modelList": ids,
        },
    )
    echo = alice.get(path(job_id)).json["jobRequest"]["jobProperties"]
    assert (echo["performanceMetric"], echo["targetColumn"], echo["modelList"]) == (None, "SPECIES", ids)
    run = run_now(alice, services, job_id)
    assert run["jobRunStatus"] == "SUCCEEDED", run
    rows = rows_of(
        services.engine, f"{job_id}_IRIS_QUALITY_OUT", '"MODEL_ID", "IS_BASELINE" DESC, "START_TIME"'
    )
    assert [(r["MODEL_ID"], r["IS_BASELINE"]) for r in rows] == [
        (m, b) for m in sorted(ids) for b in (1, 0, 0)
    ]
    x, y = _iris()
    species = [IRIS_CLASSES[i] for i in y]
    for model_id, zoo, is_plain in ((ids[0], zipmap, False), (ids[1], plain, True)):
        session = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
        baseline, week1, week2 = [r for r in rows if r["MODEL_ID"] == model_id]
        expected = [
            expected_metrics(session, x, species, is_plain),
            expected_metrics(session, new_x[:150], new_species[:150], is_plain),
            expected_metrics(session, new_x[150:], new_species[150:], is_plain),
        ]
        for row, want in zip((baseline, week1, week2), expected, strict=True):
            assert row["MODEL_TYPE"] == "CLASSIFICATION"
            assert row["METRIC"] == pytest.approx(want["Balanced accuracy"], abs=1e-12)
            got = json.loads(row["MODEL_METRICS"])
            for key, value in want.items():
                assert got[key] == pytest.approx(value, rel=1e-4), key  # written with 5 significant digits
            assert {f["feature_name"] for f in got["most_impactful_features"]} == set(IRIS)
        assert (baseline["DRIFT"], baseline["HAS_DRIFT"], baseline["THRESHOLD"]) == (None, None, None)
        for row, want in zip((week1, week2), expected[1:], strict=True):
            drift = (
                abs(want["Balanced accuracy"] - expected[0]["Balanced accuracy"])
                / expected[0]["Balanced accuracy"]
            )
            assert row["DRIFT"] == pytest.approx(drift, abs=1e-12)
            assert row["HAS_DRIFT"] == int(drift > 0.1) and row["THRESHOLD"] == 0.1
            assert "population_stability_index" in json.loads(row["MODEL_METRICS"])["prediction_statistics"]
        assert week2["HAS_DRIFT"] == 1 and week2["DRIFT"] > week1["DRIFT"]


# -- data bias ---------------------------------------------------------------------------------------


def applicants(tables: InputTables) -> str:
    """100 applicants: 40 F (A: 20 with 8 hired, B: 20 with 2 hired), 60 M (A: 20 with 15 hired,
    B: 40 with 15 hired)."""
    cells = [("F", "A", 20, 8), ("F", "B", 20, 2), ("M", "A", 20, 15), ("M", "B", 40, 15)]
    gender, region, hired = [], [], []
    for g, r, n, yes in cells:
        gender += [g] * n
        region += [r] * n
        hired += ["Y"] * yes + ["N"] * (n - yes)
    return tables.table(
        "applicants",
        [
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("GENDER", String(1)),
            Column("REGION", String(1)),
            Column("HIRED", String(1)),
        ],
        [np.arange(100), gender, region, hired],
    )


def test_data_bias_reproduces_a_hand_computed_example(
    alice: Caller, services: Services, tables: InputTables
) -> None:
    table = applicants(tables)
    job_id = create(
        alice,
        {
            "jobName": "HIRING_BIAS",
            "jobType": "DATA_BIAS",
            "inputData": table,
            "outputData": "HIRING_BIAS_OUT",
            "sensitiveFeatures": ['"GENDER"'],  # Oracle's examples quote the names
            "strata": ["REGION"],
            "outcomeColumn": "HIRED",
            "positiveOutcome": "Y",
            "replaceResultTable": "True",
        },
    )
    echo = alice.get(path(job_id)).json["jobRequest"]["jobProperties"]
    assert (echo["sensitiveFeatures"], echo["replaceResultTable"], echo["pairwiseMode"]) == (
        ["GENDER"],
        True,
        False,
    )
    for _ in range(2):  # replaceResultTable: the second run replaces the first's row
        assert run_now(alice, services, job_id)["jobRunStatus"] == "SUCCEEDED"
    (row,) = rows_of(services.engine, f"{job_id}_HIRING_BIAS_OUT", '"FEATURE_NAME"')
    result = json.loads(row["RESULT"])
    female = next(m for m in result["metric"] if m["group_a"] == "F")
    # CI = (40 - 60) / 100; SP = 10/40 - 30/60
    assert (female["CI"], female["SP"]) == (-0.2, -0.25)
    weights = next(w for w in result["reweighing_matrix"] if w["group_a"] == "F")
    # P(g) P(y) / P(g, y): F hired 0.4 * 0.4 / 0.1; M hired 0.6 * 0.4 / 0.3; F not 0.4 * 0.6 / 0.3; M not 0.6 * 0.6 / 0.3
    assert weights == {
        "group_a": "F",
        "group_a_pos_weight": 1.6,
        "non_group_a_pos_weight": 0.8,
        "group_a_neg_weight": 0.8,
        "non_group_a_neg_weight": 1.2,
    }
    (strata,) = result["cdd"]
    cdd = next(r for r in strata["result"] if r["group_a"] == "F")
    dd_a, dd_b = 8 / 23 - 12 / 17, 2 / 17 - 18 / 43  # P(F | hired, s) - P(F | not hired, s)
    assert strata["strata"] == "REGION"
    assert [d["subgroup"] for d in cdd["detail"]] == ["A", "B"]
    assert [d["DD"] for d in cdd["detail"]] == [pytest.approx(dd_a, rel=1e-4), pytest.approx(dd_b, rel=1e-4)]
    assert cdd["CDD"] == pytest.approx(0.4 * dd_a + 0.6 * dd_b, rel=1e-4)

    listed = alice.get(JOBS, params={"jobType": "DATA_BIAS"}).json["items"]
    assert [(j["jobId"], j["jobFlags"]) for j in listed] == [(job_id, [])]
    assert alice.delete(path(job_id), params={"dropOutputTable": "true"}).status_code == 204
    with services.engine.connect() as connection:
        assert not inspect(connection).has_table(f"{job_id}_HIRING_BIAS_OUT")


# -- updateProperties, recompute -----------------------------------------------------------------------


def test_update_properties_changes_what_the_spec_says_and_nothing_else(
    alice: Caller, services: Services, tables: InputTables
) -> None:
    base, new = drift_tables(tables, shift=2.5)
    schedule = {"jobStartDate": "2030-01-06T02:00:00Z", "repeatInterval": "FREQ=WEEKLY", "maxRuns": "10"}
    job_id = create(alice, data_job(base, new), schedule)
    table = f"{job_id}_LOANS_DRIFT_OUT"
    for _ in range(2):  # recompute=false: the second run finds both periods written and adds nothing
        assert run_now(alice, services, job_id)["jobRunStatus"] == "SUCCEEDED"
        assert len(rows_of(services.engine, table, '"FEATURE_NAME"')) == 9
    before = alice.get(path(job_id)).json

    refused = alice.post(path(job_id), json={"updateProperties": {"threshold": 0.9, "newData": base}})
    assert refused.status_code == 400 and "newData" in refused.json["message"]
    bad = alice.post(
        path(job_id), json={"updateProperties": {"threshold": -1}, "jobSchedule": {"maxRuns": 3}}
    )
    assert bad.status_code == 400
    assert alice.get(path(job_id)).json == before  # nothing changed, the schedule neither

    changes = {"threshold": 0.8, "recompute": "true", "featureList": ["AMOUNT", "INCOME"]}
    assert alice.post(path(job_id), json={"updateProperties": changes}).status_code == 204
    after = alice.get(path(job_id)).json
    old, now = before["jobRequest"]["jobProperties"], after["jobRequest"]["jobProperties"]
    assert {k for k in old if old[k] != now[k]} == {"threshold", "recompute", "featureList"}
    assert (now["threshold"], now["recompute"], now["featureList"]) == (0.8, True, ["AMOUNT", "INCOME"])
    assert after["jobRequest"]["jobSchedule"] == before["jobRequest"]["jobSchedule"]
    assert (before["jobStatus"], after["jobStatus"]) == ("CREATED", "UPDATED")

    # recompute=true: the baseline and both periods are written again, with the new threshold and features
    assert run_now(alice, services, job_id)["jobRunStatus"] == "SUCCEEDED"
    rows = rows_of(services.engine, table, '"FEATURE_NAME"')
    assert sorted((r["FEATURE_NAME"].upper(), r["IS_BASELINE"]) for r in rows) == [
        (f, b) for f in ("AMOUNT", "INCOME") for b in (0, 0, 1)
    ]
    assert {r["THRESHOLD"] for r in rows if r["IS_BASELINE"] == 0} == {0.8}


def test_only_monitoring_fields_and_schedules_can_change(
    alice: Caller, services: Services, tables: InputTables
) -> None:
    job_id = create(
        alice,
        {
            "jobName": "BIAS",
            "jobType": "DATA_BIAS",
            "inputData": applicants(tables),
            "outputData": "BIAS_OUT",
            "sensitiveFeatures": ["GENDER"],
            "outcomeColumn": "HIRED",
            "positiveOutcome": "Y",
        },
    )
    refused = alice.post(path(job_id), json={"updateProperties": {"numericalBinNum": 4}})
    assert refused.status_code == 400 and "numericalBinNum" in refused.json["message"]
    assert (
        alice.post(
            path(job_id), json={"jobSchedule": {"maxRuns": "3", "repeatInterval": "FREQ=DAILY"}}
        ).status_code
        == 204
    )
    assert alice.get(path(job_id)).json["jobRequest"]["jobSchedule"]["maxRuns"] == 3


def test_submissions_are_checked_before_anything_is_stored(
    alice: Caller, services: Services, tables: InputTables
) -> None:
    base, new = drift_tables(tables, shift=0.0)
    cases = [
        (data_job(base, new, frequency="fortnight"), "frequency"),
        (data_job(base, new, timeColumn=None), "timeColumn"),
        (data_job(base, new, featureList=[]), "featureList"),
        (data_job(base, new, featureList=["AMOUNT", "amount"]), "featureList"),
        (data_job(base, new, threshold="high"), "threshold"),
        (data_job(base, "NO_SUCH_TABLE"), "newData"),
        (data_job(base, new, timeColumn="AMOUNT"), "timeColumn"),
        (data_job(base, new, featureList=["NOPE"]), "featureList"),
        ({**data_job(base, new), "jobType": "MODEL_MONITORING", "targetColumn": "PURPOSE"}, "modelList"),
        ({**data_job(base, new), "jobType": "MODEL_MONITORING", "modelList": ["x"] * 21}, "modelList"),
    ]
    for properties, named in cases:
        result = alice.post(JOBS, json={"jobProperties": properties})
        assert result.status_code == 400, (named, result.text)
        assert named in result.json["message"], (named, result.json["message"])
    assert alice.get(JOBS).json["items"] == []


# -- requests as Oracle's examples send them -----------------------------------------------------------

POWER = ("GLOBAL_ACTIVE_POWER", "GLOBAL_REACTIVE_POWER", "VOLTAGE", "GLOBAL_INTENSITY")
METERS = ("SUB_METERING_1", "SUB_METERING_2", "SUB_METERING_3")


def household_power(tables: InputTables) -> tuple[str, str]:
    """Tables shaped like the household power data of Oracle's monitoring examples: a baseline of
    2007 and new data from December 2007 to 26 November 2010, whose active power drifts away from
    what intensity predicts a little more every year."""
    rng = np.random.default_rng(11)

    def frame(rows: int, first: datetime, days: float, drift: bool) -> list[Any]:
        when = [first + timedelta(days=float(d)) for d in np.linspace(0, days, rows)]
        intensity = rng.gamma(2.0, 2.5, rows)
        years = (
            np.asarray([(w - datetime(2008, 1, 1)).days / 365.25 for w in when]) if drift else np.zeros(rows)
        )
        active = 0.24 * intensity * (1 + 0.25 * np.clip(years, 0, None)) + rng.normal(0, 0.05, rows)
        meters = [rng.poisson(lam, rows).astype(np.float64) for lam in (1.0, 1.5, 6.0)]
        return [active, rng.gamma(1.0, 0.1, rows), rng.normal(240, 3, rows), intensity, *meters, when]

    def columns() -> list[Column[Any]]:
        return [*(Column(name, Float) for name in (*POWER, *METERS)), Column("DATES", DateTime)]

    base = tables.table("household_power_base", columns(), frame(300, datetime(2007, 1, 1), 330, False))
    new = tables.table("household_power_new", columns(), frame(600, datetime(2007, 12, 16), 1076, True))
    return base, new


def test_requests_shaped_like_oracles_monitoring_examples_pass(
    alice: Caller, services: Services, tables: InputTables, tmp_path: Path
) -> None:
    """The LiveLabs data and model monitoring requests, with our tables, model id and, for the ONNX
    model, our targetColumn (schema names left out: they name Oracle's schema)."""
    base, new = household_power(tables)
    # PostgreSQL names hold at most 63 bytes, which leaves 22 for outputData after the job id
    short = services.engine.dialect.name == "postgresql"
    data_output = "householdPower" if short else "householdPowerConsumption"
    model_output = "Power_Monitor" if short else "Global_Active_Power_Monitor"
    schedule = {  # Oracle's, six years on: a schedule that ended refuses RUN
        "jobStartDate": "2030-11-11T20:30:26Z",
        "repeatInterval": "FREQ=HOURLY",
        "jobEndDate": "2030-11-19T23:30:26Z",
        "maxRuns": "10",
    }
    data_id = create(
        alice,
        {
            "jobName": "HouseholdPowerDataMonitoring",
            "jobType": "DATA_MONITORING",
            "disableJob": False,
            "outputData": data_output,
            "baselineData": base.upper(),
            "newData": new.upper(),
            "jobDescription": "Monitor household power",
            "jobServiceLevel": "LOW",
            "timeColumn": "DATES",
            "startDate": "2008-01-01T00:00:00Z",
            "endDate": "2010-11-26T00:00:00Z",
            "frequency": "Year",
            "threshold": 0.8,
            "recompute": False,
            "caseidColumn": None,
            "anchorColumn": None,
            "featureList": ["GLOBAL_ACTIVE_POWER", "GLOBAL_REACTIVE_POWER", "VOLTAGE", *METERS],
        },
        schedule,
    )
    details = alice.get(path(data_id)).json
    assert details["jobRequest"]["jobSchedule"]["maxRuns"] == 10
    assert details["jobRequest"]["jobProperties"]["frequency"] == "Year"
    assert run_now(alice, services, data_id)["jobRunStatus"] == "SUCCEEDED"
    rows = rows_of(
        services.engine,
        f"{data_id}_{data_output.upper()}",
        '"FEATURE_NAME", "IS_BASELINE" DESC, "START_TIME"',
    )
    periods = sorted(
        {(str(r["START_TIME"])[:19], str(r["END_TIME"])[:19]) for r in rows if r["IS_BASELINE"] == 0}
    )
    assert periods == [  # Oracle's three periods for these dates [E]
        ("2008-01-01T00:00:00", "2008-11-25T23:59:58"),
        ("2008-11-25T23:59:59", "2009-11-25T23:59:59"),
        ("2009-11-26T00:00:00", "2010-11-26T00:00:00"),
    ] or periods == [
        ("2008-01-01 00:00:00", "2008-11-25 23:59:58"),
        ("2008-11-25 23:59:59", "2009-11-25 23:59:59"),
        ("2009-11-26 00:00:00", "2010-11-26 00:00:00"),
    ]
    assert len(rows) == 6 * (1 + 3)

    regressor = make_linear_regressor_zip(tmp_path, [0.0, 0.0, 0.24, 0.0, 0.0, 0.0], stem="power")
    model_id = store_model(alice, regressor.zip_path, name="HousePowerNN")
    model_job = {
        "jobName": "MY_MODEL_MONITOR1",
        "jobType": "MODEL_MONITORING",
        "disableJob": False,
        "jobServiceLevel": "LOW",
        "outputData": model_output,
        "jobDescription": "Global active power monitoring job",
        "baselineData": base.upper(),
        "newData": new.upper(),
        "frequency": "Year",
        "threshold": 0.15,
        "timeColumn": "DATES",
        "startDate": "2008-01-01T00:00:00Z",
        "endDate": "2010-11-26T00:00:00Z",
        "caseidColumn": None,
        "performanceMetric": "MEAN_SQUARED_ERROR",
        "modelList": [model_id],
        "recompute": False,
        "targetColumn": "GLOBAL_ACTIVE_POWER",
    }
    model_id_job = create(
        alice, model_job, {**schedule, "jobStartDate": "2030-11-11T00:30:07Z", "repeatInterval": "FREQ=DAILY"}
    )
    echo = alice.get(path(model_id_job)).json["jobRequest"]["jobProperties"]
    assert list(echo)[-4:] == ["modelList", "performanceMetric", "targetColumn", "positiveClass"]
    assert {k: echo[k] for k in model_job} == {**model_job, "disableJob": False}
    assert run_now(alice, services, model_id_job)["jobRunStatus"] == "SUCCEEDED"
    rows = rows_of(
        services.engine, f"{model_id_job}_{model_output.upper()}", '"IS_BASELINE" DESC, "START_TIME"'
    )
    assert [r["IS_BASELINE"] for r in rows] == [1, 0, 0, 0]
    assert all(r["MODEL_TYPE"] == "REGRESSION" for r in rows)
    baseline = json.loads(rows[0]["MODEL_METRICS"])
    assert list(baseline)[:4] == ["R2", "Mean squared error", "Mean absolute error", "Median absolute error"]
    assert rows[0]["METRIC"] == pytest.approx(baseline["Mean squared error"], rel=1e-4)
    impacts = baseline["most_impactful_features"]
    assert impacts[0]["feature_name"] == "GLOBAL_INTENSITY" and len(impacts) == 6
    drifts = [r["DRIFT"] for r in rows[1:]]
    assert drifts == sorted(drifts) and rows[-1]["HAS_DRIFT"] == 1  # the relation drifts more every year


# -- access --------------------------------------------------------------------------------------------


def test_monitoring_jobs_read_only_what_their_owners_database_identity_may_read(
    alice: Caller,
    bob: Caller,
    services: Services,
    database: tuple[str, Engine],
    db_roles: dict[str, str | None],
    tables: InputTables,
) -> None:
    """A table alice may not read answers like one that does not exist, at submission and at each run;
    bob never sees alice's job."""
    bobs = InputTables(database[1], readers={"bob": db_roles.get("bob")})
    try:
        theirs, _ = drift_tables(bobs, shift=0.0)
        ours_base, ours_new = drift_tables(tables, shift=0.0)
        refused = alice.post(JOBS, json={"jobProperties": data_job(theirs, ours_new)})
        assert refused.status_code == 400
        assert refused.json["message"] == f"baselineData: there is no table or view {theirs.upper()!r}."
        job_id = create(alice, data_job(ours_base, ours_new))
        assert bob.get(path(job_id)).status_code == 404
        if database[1].dialect.name == "sqlite":
            TableGrantService(Transactions(database[1]), services.auth).revoke(ours_base, "alice")
        else:
            with database[1].begin() as connection:
                connection.execute(text(f'REVOKE SELECT ON "{ours_base}" FROM "{db_roles["alice"]}"'))
        run = run_now(alice, services, job_id)
        assert run["jobRunStatus"] == "FAILED"
        assert run["errorMessage"] == f"baselineData: there is no table or view {ours_base.upper()!r}."
        with database[1].connect() as connection:
            assert not inspect(connection).has_table(f"{job_id}_LOANS_DRIFT_OUT")
    finally:
        bobs.drop_all()


def test_a_metric_of_the_other_family_and_a_clustering_model_are_refused(
    alice: Caller, services: Services, tables: InputTables, tmp_path: Path
) -> None:
    base, new, _, _ = iris_tables(tables)
    classifier = store_model(alice, make_zipmap_classifier_zip(tmp_path).zip_path, name="iris")
    job = {
        "jobName": "Q",
        "jobType": "MODEL_MONITORING",
        "outputData": "Q_OUT",
        "baselineData": base,
        "newData": new,
        "caseidColumn": "ID",
        "targetColumn": "SPECIES",
        "modelList": [classifier],
    }
    wrong = alice.post(JOBS, json={"jobProperties": {**job, "performanceMetric": "R2"}})
    assert wrong.status_code == 400 and "does not apply to classification" in wrong.json["message"]
    (tmp_path / "k").mkdir()
    kmeans = store_model(alice, make_kmeans_zip(tmp_path / "k").zip_path, name="clusters")
    clusters = alice.post(JOBS, json={"jobProperties": {**job, "modelList": [classifier, kmeans]}})
    assert (
        clusters.status_code == 400
        and "classification and regression models only" in clusters.json["message"]
    )
    missing = alice.post(JOBS, json={"jobProperties": {**job, "targetColumn": None}})
    assert missing.status_code == 400 and "targetColumn is required" in missing.json["message"]


def test_a_deleted_model_fails_the_run_and_flags_the_job(
    alice: Caller, services: Services, tables: InputTables, tmp_path: Path
) -> None:
    base, new, _, _ = iris_tables(tables)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    kept = store_model(alice, make_zipmap_classifier_zip(tmp_path / "a").zip_path, name="kept")
    gone = store_model(alice, make_plain_classifier_zip(tmp_path / "b").zip_path, name="gone")
    job_id = create(
        alice,
        {
            "jobName": "Q",
            "jobType": "MODEL_MONITORING",
            "outputData": "Q_OUT",
            "baselineData": base,
            "newData": new,
            "caseidColumn": "ID",
            "targetColumn": "SPECIES",
            "modelList": [kept, gone],
        },
    )
    assert alice.get(path(job_id)).json["jobFlags"] == []
    assert alice.delete(f"/omlmod/v1/models/{gone}").status_code == 204
    assert alice.get(path(job_id)).json["jobFlags"] == ["MODEL_DELETED"]
    run = run_now(alice, services, job_id)
    assert (run["jobRunStatus"], run["errorMessage"]) == (
        "FAILED",
        f"modelList: model {gone} does not exist.",
    )
