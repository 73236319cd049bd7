"""The jobs' schema components of the service document (``GET /omlmod/v1/api``): the request of a
scoring or monitoring job, its schedule, update and action, and the submitted job with its runs
(spec ``oml-jobs.md``, ``oml-monitoring.md``).

:mod:`omlsvc.openapi.service` merges them in next to the paths of :mod:`omlsvc.openapi.jobs`.
"""

from __future__ import annotations

import copy
from typing import Any

from omlsvc.core.limits import MAX_TENSOR_NAME
from omlsvc.jobs.actions import ACTIONS
from omlsvc.jobs.monitoring import properties as monitoring
from omlsvc.jobs.monitoring.metrics import PERFORMANCE_METRICS
from omlsvc.jobs.monitoring.periods import FREQUENCIES
from omlsvc.jobs.monitoring.sections import DEFAULT_THRESHOLD
from omlsvc.jobs.properties import FIELDS, MAX_JOB_NAME, SERVICE_LEVELS
from omlsvc.openapi.builders import collection_schema, links_schema, nullable, schema_ref

_DATE = {"type": "string", "format": "date-time"}
_NULLABLE_STRING = {"type": "string", "nullable": True}


def _properties_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "jobType": {"type": "string", "enum": ["MODEL_SCORING"]},
        "jobName": {"type": "string", "maxLength": MAX_JOB_NAME},
        "modelId": {"type": "string"},
        "inputData": {
            "type": "string",
            "description": "Table or view to score (matched case-insensitively).",
        },
        "outputData": {"type": "string", "description": "The output table is {jobId}_{OUTPUTDATA}."},
        "supplementalColumnNames": {"type": "array", "items": {"type": "string"}},
        "topN": {"type": "integer", "minimum": 1, "nullable": True},
        "topNDetails": {
            "type": "integer",
            "minimum": 1,
            "nullable": True,
            "description": "Accepted and ignored: ONNX models have no prediction details.",
        },
        "recompute": {
            "type": "boolean",
            "description": "true: each run replaces the output; false: appends.",
        },
        "inputSchemaName": _NULLABLE_STRING,
        "outputSchemaName": _NULLABLE_STRING,
        "jobDescription": _NULLABLE_STRING,
        "jobServiceLevel": {"type": "string", "enum": list(SERVICE_LEVELS), "nullable": True},
        "disableJob": {"type": "boolean"},
        "keyColumnName": {
            "type": "string",
            "nullable": True,
            "description": "Our extension: a unique column to read the input in order (default: its primary key).",
        },
        "inputColumnNames": {
            "type": "array",
            "items": {"type": "string"},
            "nullable": True,
            "description": "Our extension: the columns feeding the model's inputs, in input order.",
        },
        # issue 16
        "outputTensor": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TENSOR_NAME,
            "nullable": True,
            "description": (
                "Our extension: score as feature extraction on this value of the graph (the model cut there), "
                "writing OML$FEATURE_IDk, OML$WEIGHTk; topN is then required. A name the graph does not "
                "compute fails the run."
            ),
        },
    }
    assert set(properties) == set(FIELDS)
    return {
        "type": "object",
        "required": ["jobName", "jobType", "modelId", "inputData", "outputData"],
        "properties": properties,
        "additionalProperties": False,
    }


def _monitoring_common() -> dict[str, Any]:
    return {
        "jobName": {"type": "string", "maxLength": MAX_JOB_NAME},
        "outputData": {"type": "string", "description": "The output table is {jobId}_{OUTPUTDATA}."},
        "inputSchemaName": _NULLABLE_STRING,
        "outputSchemaName": _NULLABLE_STRING,
        "jobDescription": _NULLABLE_STRING,
        "jobServiceLevel": {"type": "string", "enum": list(SERVICE_LEVELS), "nullable": True},
        "disableJob": {"type": "boolean"},
        "jobFlag": {"type": "string", "nullable": True, "description": "Accepted and ignored."},
    }


def _periods() -> dict[str, Any]:
    names = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    return {
        "baselineData": {
            "type": "string",
            "description": "Reference table or view (at least 100 rows; 50 for models).",
        },
        "newData": {"type": "string", "description": "Table or view compared with the baseline."},
        "timeColumn": {**_NULLABLE_STRING, "description": "DATE or TIMESTAMP column of newData."},
        "startDate": nullable(_DATE),
        "endDate": nullable(_DATE),
        "frequency": {
            "type": "string",
            "nullable": True,
            "description": f"One of {', '.join(FREQUENCIES)} in any case (Oracle's examples send Year).",
        },
        "threshold": {
            "type": "number",
            "minimum": 0,
            "nullable": True,
            "description": f"A period drifts when DRIFT exceeds it (default {DEFAULT_THRESHOLD}).",
        },
        "recompute": {
            "type": "boolean",
            "description": "true: recompute the grid's periods; false: only new ones.",
        },
        "caseidColumn": {**_NULLABLE_STRING, "description": "Row identifier in both tables."},
        "_names": names,
    }


def _monitoring_schema(job_type: str) -> dict[str, Any]:
    """``jobProperties`` of a monitoring job (spec ``oml-monitoring.md`` sections 2, 3 and 12)."""
    common = _monitoring_common()
    names = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    if job_type == monitoring.DATA_BIAS:
        properties: dict[str, Any] = {
            **common,
            "inputData": {"type": "string"},
            "sensitiveFeatures": names,
            "strata": {**names, "nullable": True},
            "outcomeColumn": {"type": "string"},
            "outcomeThreshold": {"type": "number", "nullable": True},
            "positiveOutcome": {
                "oneOf": [{"type": "string"}, {"type": "number"}],
                "nullable": True,
                "description": "The favourable outcome value (text or number).",
            },
            "replaceResultTable": {"type": "boolean"},
            "pairwiseMode": {"type": "boolean"},
            "categoricalBinNum": {"type": "integer", "minimum": 2, "maximum": 1000, "nullable": True},
            "numericalBinNum": {"type": "integer", "minimum": 2, "maximum": 1000, "nullable": True},
        }
        required = ["jobName", "jobType", "inputData", "outputData", "sensitiveFeatures", "outcomeColumn"]
    else:
        periods = _periods()
        del periods["_names"]
        properties = {**common, **periods}
        required = ["jobName", "jobType", "outputData", "baselineData", "newData"]
        if job_type == monitoring.DATA_MONITORING:
            properties["featureList"] = {
                **names,
                "nullable": True,
                "description": "Numeric or text columns of both tables (default: all of them); at most "
                f"OMLSVC_MONITOR_MAX_FEATURES (default {monitoring.DEFAULT_MAX_FEATURES}).",
            }
            properties["anchorColumn"] = _NULLABLE_STRING
        else:
            properties["modelList"] = {
                **names,
                "description": "Ids of classification or regression models, all of one function; at most "
                f"OMLSVC_MONITOR_MAX_MODELS (default {monitoring.DEFAULT_MAX_MODELS}).",
            }
            properties["performanceMetric"] = {
                "type": "string",
                "nullable": True,
                "enum": [*PERFORMANCE_METRICS, None],
            }
            properties["targetColumn"] = {
                "type": "string",
                "description": "Our extension: the column of both tables holding the true target (ONNX models do "
                "not name it).",
            }
            properties["positiveClass"] = {
                "oneOf": [{"type": "string"}, {"type": "number"}],
                "nullable": True,
                "description": "Our extension: the class binary metrics are computed for.",
            }
            required += ["modelList", "targetColumn"]
    properties["jobType"] = {"type": "string", "enum": [job_type]}
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def _update_schema() -> dict[str, Any]:
    periods = _periods()
    return {
        "type": "object",
        "properties": {
            "jobSchedule": schema_ref("JobSchedule"),
            "updateProperties": {
                "type": "object",
                "description": "Monitoring jobs only: DATA_MONITORING may change startDate, endDate, threshold, "
                "recompute and featureList; MODEL_MONITORING the same with modelList for featureList.",
                "properties": {
                    "startDate": periods["startDate"],
                    "endDate": periods["endDate"],
                    "threshold": periods["threshold"],
                    "recompute": periods["recompute"],
                    "featureList": periods["_names"],
                    "modelList": periods["_names"],
                },
                "additionalProperties": False,
            },
        },
        "anyOf": [{"required": ["jobSchedule"]}, {"required": ["updateProperties"]}],
    }


def _run_detail() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "jobRunStatus": {
                "type": "string",
                "enum": ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"],
            },
            "errorMessage": _NULLABLE_STRING,
            "requestedStartDate": nullable(_DATE),
            "actualStartDate": nullable(_DATE),
            "duration": {"type": "string", "nullable": True, "description": "D H:M:S.F"},
            "rowsScored": {"type": "integer", "description": "Our extension: output rows written so far."},
        },
    }


def _schedule_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "jobStartDate": nullable(_DATE),
            "jobEndDate": nullable(_DATE),
            "repeatInterval": {
                "type": "string",
                "nullable": True,
                "description": "DBMS_SCHEDULER calendaring syntax, e.g. FREQ=WEEKLY;BYDAY=MON;BYHOUR=2.",
            },
            "maxRuns": {"type": "integer", "minimum": 1, "nullable": True},
        },
        "additionalProperties": False,
    }


def _submitted_job_schema() -> dict[str, Any]:
    last_run = _run_detail()
    last_run["properties"] = {k: v for k, v in last_run["properties"].items() if k != "rowsScored"}
    return {
        "type": "object",
        "required": ["jobId", "jobRequest", "dateSubmitted"],
        "properties": {
            "jobId": {"type": "string"},
            "jobRequest": schema_ref("JobRequest"),
            "jobStatus": {
                "type": "string",
                "enum": ["CREATING", "CREATED", "UPDATING", "UPDATED", "DELETING"],
            },
            "dateSubmitted": _DATE,
            "dateLastUpdated": _DATE,
            "links": links_schema(),
            "jobFlags": {"type": "array", "items": {"type": "string"}},
            "state": {"type": "string", "enum": ["SCHEDULED", "RUNNING", "DISABLED", "COMPLETED"]},
            "enabled": {"type": "boolean"},
            "runCount": {"type": "integer"},
            "nextRunDate": nullable(_DATE),
            "lastStartDate": nullable(_DATE),
            "lastRunStatus": {"type": "string"},
            "lastRunDetail": last_run,
        },
    }


_KINDS = {
    "MODEL_SCORING": "ScoringJobProperties",
    monitoring.DATA_MONITORING: "DataMonitoringJobProperties",
    monitoring.MODEL_MONITORING: "ModelMonitoringJobProperties",
    monitoring.DATA_BIAS: "DataBiasJobProperties",
}


def job_schemas() -> dict[str, dict[str, Any]]:
    """The jobs' schema components, fresh objects on every call."""
    schemas: dict[str, dict[str, Any]] = {
        "JobSchedule": _schedule_schema(),
        "ScoringJobProperties": _properties_schema(),
        "DataMonitoringJobProperties": _monitoring_schema(monitoring.DATA_MONITORING),
        "ModelMonitoringJobProperties": _monitoring_schema(monitoring.MODEL_MONITORING),
        "DataBiasJobProperties": _monitoring_schema(monitoring.DATA_BIAS),
        "JobRequest": {
            "type": "object",
            "required": ["jobProperties"],
            "properties": {
                "jobSchedule": schema_ref("JobSchedule"),
                "jobProperties": {
                    "oneOf": [schema_ref(name) for name in _KINDS.values()],
                    "discriminator": {
                        "propertyName": "jobType",
                        "mapping": {kind: f"#/components/schemas/{name}" for kind, name in _KINDS.items()},
                    },
                },
            },
        },
        "JobUpdate": _update_schema(),
        "JobAction": {
            "type": "object",
            "required": ["action"],
            "properties": {
                "action": {"type": "string", "enum": list(ACTIONS)},
                "force": {"type": "boolean", "description": "DISABLE even while a run is in progress."},
            },
        },
        "CreatedJob": {
            "type": "object",
            "required": ["jobId", "links"],
            "properties": {"jobId": {"type": "string"}, "links": links_schema()},
        },
        "JobRunDetail": _run_detail(),
        "SubmittedJob": _submitted_job_schema(),
        "SubmittedJobCollection": collection_schema("SubmittedJob", links=links_schema()),
    }
    return copy.deepcopy(schemas)
