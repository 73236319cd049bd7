"""jobProperties of a MODEL_SCORING job: every problem reported at once, the echo normalised."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from omlsvc.core.errors import InvalidInput
from omlsvc.jobs.lifecycle import new_job_id, parse_job_id
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.records import RunRecord
from omlsvc.jobs.tables import decode_key, encode_key
from omlsvc.rest.job_views import duration

GOOD = {
    "jobName": "CHURN_WEEKLY",
    "jobType": "MODEL_SCORING",
    "modelId": "9d3c1f70-2b4e-4a51-8c0e-5f7a2d6b1e90",
    "inputData": "ACCOUNTS_CURRENT",
    "outputData": "CHURN_SCORES",
    "supplementalColumnNames": ["ACCOUNT_ID", "REGION"],
    "topN": "2",
    "jobServiceLevel": "medium",
    "recompute": "true",
}


def test_the_echo_has_every_field_with_strings_coerced_as_oracle_does() -> None:
    echo = ScoringJobProperties.parse(GOOD).to_json()
    assert echo == {
        "jobType": "MODEL_SCORING",
        "inputSchemaName": None,
        "outputSchemaName": None,
        "outputData": "CHURN_SCORES",
        "jobDescription": None,
        "jobName": "CHURN_WEEKLY",
        "disableJob": False,
        "jobServiceLevel": "MEDIUM",
        "inputData": "ACCOUNTS_CURRENT",
        "supplementalColumnNames": ["ACCOUNT_ID", "REGION"],
        "topN": 2,
        "recompute": True,
        "modelId": "9d3c1f70-2b4e-4a51-8c0e-5f7a2d6b1e90",
        "topNDetails": None,
        "keyColumnName": None,
        "inputColumnNames": None,
    }
    assert ScoringJobProperties.from_text(ScoringJobProperties.parse(GOOD).to_text()).to_json() == echo


def test_every_problem_is_reported_in_one_error() -> None:
    bad = {
        "jobType": "BATCH_SCORING",
        "inputData": "x; DROP TABLE users",
        "outputData": "1OUT",
        "supplementalFeatures": ["A"],
        "topN": 0,
        "recompute": "yes",
        "jobServiceLevel": "URGENT",
    }
    with pytest.raises(InvalidInput) as raised:
        ScoringJobProperties.parse(bad)
    text = " | ".join(raised.value.details)
    for fragment in (
        "unknown field(s) supplementalFeatures",
        "jobType is required and must be one of MODEL_SCORING, DATA_MONITORING",
        "jobName is required",
        "modelId is required",
        "inputData 'x; DROP TABLE users' must be a table or column name",
        "outputData '1OUT'",
        "topN must be an integer",
        "recompute must be true or false",
        "jobServiceLevel must be one of",
    ):
        assert fragment in text


def test_a_column_named_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="names a column twice"):
        ScoringJobProperties.parse({**GOOD, "supplementalColumnNames": ["id", "ID"]})


def test_job_ids_look_like_oracles_and_paths_accept_dollar_or_percent_24() -> None:
    job_id = new_job_id()
    assert job_id.startswith("OML$") and len(job_id) == 40 and "-" not in job_id and job_id == job_id.upper()
    assert parse_job_id(job_id) == job_id
    assert parse_job_id(job_id.replace("$", "%24").lower()) == job_id


@pytest.mark.parametrize(
    "key",
    [
        0,
        -7,
        2**62,
        1.5,
        Decimal("12.340"),
        "ACC-001",
        "",
        datetime(2025, 1, 2, 3, 4, 5, 6),
        date(2025, 1, 2),
        b"\x00\xff",
    ],
)
def test_key_checkpoints_keep_their_type(key: object) -> None:
    back = decode_key(encode_key(key))
    assert back == key and type(back) is type(key)


def test_durations_read_like_oracle_intervals() -> None:
    run = RunRecord(
        "r", "j", "MANUAL", "SUCCEEDED", datetime(2025, 1, 1), datetime(2025, 1, 1), datetime(2025, 1, 2, 1, 2, 3, 400000),
        None, None, False, True, None, 0, 0, None,
    )  # fmt: skip
    assert duration(run) == "1 1:2:3.4"
