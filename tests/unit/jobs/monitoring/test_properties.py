"""``jobProperties`` of monitoring jobs: echoed in Oracle's order with strings normalised, every
problem reported at once, ``updateProperties`` limited to what each type lets change."""

from __future__ import annotations

from typing import Any

import pytest

from omlsvc.core.errors import InvalidInput
from omlsvc.jobs.monitoring.properties import Limits, monitoring_from_text, parse_monitoring, to_text, updated

MODEL = {
    "jobName": "MY_MODEL_MONITOR1",
    "jobType": "MODEL_MONITORING",
    "outputData": "Power_Monitor",
    "baselineData": "HOUSEHOLD_POWER_BASE",
    "newData": "HOUSEHOLD_POWER_NEW",
    "frequency": "Year",
    "threshold": "0.150",
    "recompute": "false",
    "modelList": ["0bf13d1f-86a6-465d-93d1-8985afd1bbdb"],
    "targetColumn": "GLOBAL_ACTIVE_POWER",
    "timeColumn": "DATES",
    "startDate": "2008-01-01T00:00:00Z",
    "jobFlag": "anything",  # accepted and ignored
}


def test_model_monitoring_echoes_in_oracles_order_with_our_extensions_last() -> None:
    echo = parse_monitoring(MODEL).to_json()
    assert list(echo) == [
        "jobType", "inputSchemaName", "outputSchemaName", "outputData", "jobDescription", "jobName",
        "disableJob", "jobServiceLevel", "baselineData", "newData", "timeColumn", "startDate", "endDate",
        "frequency", "threshold", "recompute", "caseidColumn", "modelList", "performanceMetric",
        "targetColumn", "positiveClass",
    ]  # fmt: skip
    assert (echo["threshold"], echo["recompute"], echo["frequency"], echo["endDate"]) == (
        0.15,
        False,
        "Year",
        None,
    )
    assert monitoring_from_text(to_text(parse_monitoring(MODEL))).to_json() == echo


def test_data_bias_strips_oracles_quotes_and_reads_string_booleans() -> None:
    echo = parse_monitoring(
        {
            "jobName": "B",
            "jobType": "DATA_BIAS",
            "inputData": "ADULT",
            "outputData": "B_OUT",
            "sensitiveFeatures": ['"GENDER"', "AGE"],
            "outcomeColumn": '"INCOME"',
            "outcomeThreshold": "50000",
            "replaceResultTable": "True",
            "numericalBinNum": 5,
        }
    ).to_json()
    assert list(echo)[8:] == [
        "inputData", "sensitiveFeatures", "strata", "outcomeColumn", "outcomeThreshold", "positiveOutcome",
        "replaceResultTable", "pairwiseMode", "categoricalBinNum", "numericalBinNum",
    ]  # fmt: skip
    assert (echo["sensitiveFeatures"], echo["outcomeColumn"], echo["outcomeThreshold"]) == (
        ["GENDER", "AGE"],
        "INCOME",
        50000.0,
    )
    assert (echo["replaceResultTable"], echo["numericalBinNum"]) == (True, 5)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"modelList": []}, "modelList must name at least one model"),
        ({"modelList": ["a"] * 3}, "at most 2 are allowed"),
        ({"performanceMetric": "LOG_LOSS"}, "performanceMetric must be one of"),
        ({"frequency": "hour"}, "frequency must be one of day, week, month, year"),
        ({"threshold": -0.1}, "threshold must be a finite number of at least 0"),
        (
            {"startDate": "2011-01-01T00:00:00Z", "endDate": "2010-01-01T00:00:00Z"},
            "startDate is after endDate",
        ),
        ({"timeColumn": None}, "startDate, frequency need(s) timeColumn"),
        ({"targetColumn": None}, "targetColumn is required"),
        ({"featureList": ["A"]}, "unknown field(s) for MODEL_MONITORING: featureList"),
    ],
)
def test_mistakes_are_reported_naming_the_field(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_monitoring({**MODEL, **change}, Limits(max_models=2))
    assert fragment in raised.value.message


def test_update_properties_changes_only_the_fields_its_type_allows() -> None:
    properties = parse_monitoring(MODEL)
    changed = updated(
        properties, {"threshold": 0.2, "modelList": ["m1", "m2"], "endDate": "2010-11-26T00:00:00Z"}
    )
    before, after = properties.to_json(), changed.to_json()
    assert {k for k in before if before[k] != after[k]} == {"threshold", "modelList", "endDate"}
    with pytest.raises(InvalidInput, match="cannot change targetColumn"):
        updated(properties, {"targetColumn": "X"})
    with pytest.raises(InvalidInput, match="threshold must be"):
        updated(properties, {"threshold": "high"})
