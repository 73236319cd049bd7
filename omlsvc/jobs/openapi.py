"""The jobs part of the service's OpenAPI document (``GET /omlmod/v1/api``): paths and schemas.

Kept beside the jobs code so the two change together; :mod:`omlsvc.meta.openapi` merges it in.
Error responses refer to the service document's shared ``components/responses``.
"""

from __future__ import annotations

from typing import Any

from omlsvc.jobs.properties import FIELDS, SERVICE_LEVELS
from omlsvc.jobs.service import ACTIONS

_ERRORS = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "404": "NotFound",
    "409": "Conflict",
    "415": "UnsupportedMediaType",
    "500": "InternalError",
    "503": "Unavailable",
}
_COMMON = ("401", "500", "503")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    errors: tuple[str, ...],
    *,
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["jobs"],
        "responses": {
            **responses,
            **{code: {"$ref": f"#/components/responses/{_ERRORS[code]}"} for code in errors},
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    if parameters:
        operation["parameters"] = parameters
    return operation


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_JOB_ID = [
    {
        "name": "jobId",
        "in": "path",
        "required": True,
        "description": "The job's id, OML$ + an upper-case UUID with underscores ($ raw or as %24).",
        "schema": {"type": "string"},
    }
]
_NO_CONTENT = {"204": {"description": "Done."}}
_DATE = {"type": "string", "format": "date-time"}
_NULLABLE_STRING = {"type": "string", "nullable": True}


def job_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/jobs": {
            "post": _operation(
                "createJob",
                "Submit a batch scoring job (jobType MODEL_SCORING)",
                {
                    "201": {
                        "description": "Created; Location names the job.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": _json("CreatedJob"),
                    }
                },
                ("400", "415", *_COMMON),
                body="JobRequest",
            ),
            "get": _operation(
                "listJobs",
                "The caller's jobs (an admin sees every job)",
                {"200": {"description": "Jobs.", "content": _json("SubmittedJobCollection")}},
                ("400", *_COMMON),
                parameters=[
                    _query(
                        "jobFlag",
                        "Repeatable; jobs carrying every flag given (e.g. MODEL_DELETED).",
                        {"type": "array", "items": {"type": "string"}},
                    ),
                    _query("jobName", "Exact job name."),
                    _query(
                        "jobServiceLevel",
                        "LOW, MEDIUM or HIGH.",
                        {"type": "string", "enum": list(SERVICE_LEVELS)},
                    ),
                    _query("jobStatus", "CREATED or UPDATED."),
                    _query("jobType", "MODEL_SCORING."),
                    _query("modelId", "Jobs of this model."),
                    _query("submittedAfter", "Submitted after this instant.", _DATE),
                    _query("submittedBefore", "Submitted before this instant.", _DATE),
                    _query("offset", "Our extension: items to skip.", {"type": "integer", "minimum": 0}),
                    _query("limit", "Our extension: page size.", {"type": "integer", "minimum": 1}),
                ],
            ),
        },
        "/omlmod/v1/jobs/{jobId}": {
            "parameters": _JOB_ID,
            "get": _operation(
                "getJob",
                "A job: its request, scheduler state and latest run",
                {"200": {"description": "The job.", "content": _json("SubmittedJob")}},
                ("404", *_COMMON),
            ),
            "post": _operation(
                "updateJob",
                "Change the job's schedule (fields left out stay)",
                _NO_CONTENT,
                ("400", "404", "415", *_COMMON),
                body="JobUpdate",
            ),
            "delete": _operation(
                "deleteJob",
                "Delete a job and its run history (refused while it runs)",
                _NO_CONTENT,
                ("404", "409", *_COMMON),
                parameters=[
                    _query(
                        "dropOutputTable",
                        "Our extension: also drop the job's output table (default false).",
                        {"type": "boolean"},
                    )
                ],
            ),
        },
        "/omlmod/v1/jobs/{jobId}/action": {
            "parameters": _JOB_ID,
            "post": _operation(
                "actOnJob",
                "ENABLE, DISABLE, RUN now or STOP the run in progress",
                _NO_CONTENT,
                ("400", "404", "409", "415", *_COMMON),
                body="JobAction",
            ),
        },
        "/omlmod/v1/jobs/{jobId}/runs": {
            "parameters": _JOB_ID,
            "get": _operation(
                "listJobRuns",
                "The job's runs, most recent first",
                {
                    "200": {
                        "description": "Runs.",
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": _ref("JobRunDetail")}}
                        },
                    }
                },
                ("400", "404", *_COMMON),
                parameters=[
                    _query("limit", "Only the N most recent runs.", {"type": "integer", "minimum": 1})
                ],
            ),
        },
        "/omlmod/v1/jobs/{jobId}/check": {
            "parameters": _JOB_ID,
            "get": _operation(
                "checkJob",
                "Poll a submission or update: jobs are created synchronously, so always done",
                {
                    "302": {
                        "description": "Done; Location names the job.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "204": {"description": "Still in progress (never answered by this service)."},
                },
                ("404", *_COMMON),
            ),
        },
    }


def _properties_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "jobType": {"type": "string", "enum": ["MODEL_SCORING"]},
        "jobName": {"type": "string", "maxLength": 128},
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
    }
    assert set(properties) == set(FIELDS)
    return {
        "type": "object",
        "required": ["jobName", "jobType", "modelId", "inputData", "outputData"],
        "properties": properties,
        "additionalProperties": False,
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
            "requestedStartDate": {**_DATE, "nullable": True},
            "actualStartDate": {**_DATE, "nullable": True},
            "duration": {"type": "string", "nullable": True, "description": "D H:M:S.F"},
            "rowsScored": {"type": "integer", "description": "Our extension: output rows written so far."},
        },
    }


def job_schemas() -> dict[str, dict[str, Any]]:
    schedule = {
        "type": "object",
        "properties": {
            "jobStartDate": {**_DATE, "nullable": True},
            "jobEndDate": {**_DATE, "nullable": True},
            "repeatInterval": {
                "type": "string",
                "nullable": True,
                "description": "DBMS_SCHEDULER calendaring syntax, e.g. FREQ=WEEKLY;BYDAY=MON;BYHOUR=2.",
            },
            "maxRuns": {"type": "integer", "minimum": 1, "nullable": True},
        },
        "additionalProperties": False,
    }
    links = {"type": "array", "items": _ref("Link")}
    last_run = _run_detail()
    last_run["properties"] = {k: v for k, v in last_run["properties"].items() if k != "rowsScored"}
    return {
        "JobSchedule": schedule,
        "ScoringJobProperties": _properties_schema(),
        "JobRequest": {
            "type": "object",
            "required": ["jobProperties"],
            "properties": {"jobSchedule": _ref("JobSchedule"), "jobProperties": _ref("ScoringJobProperties")},
        },
        "JobUpdate": {
            "type": "object",
            "required": ["jobSchedule"],
            "properties": {"jobSchedule": _ref("JobSchedule")},
        },
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
            "properties": {"jobId": {"type": "string"}, "links": links},
        },
        "JobRunDetail": _run_detail(),
        "SubmittedJob": {
            "type": "object",
            "required": ["jobId", "jobRequest", "dateSubmitted"],
            "properties": {
                "jobId": {"type": "string"},
                "jobRequest": _ref("JobRequest"),
                "jobStatus": {
                    "type": "string",
                    "enum": ["CREATING", "CREATED", "UPDATING", "UPDATED", "DELETING"],
                },
                "dateSubmitted": _DATE,
                "dateLastUpdated": _DATE,
                "links": links,
                "jobFlags": {"type": "array", "items": {"type": "string"}},
                "state": {"type": "string", "enum": ["SCHEDULED", "RUNNING", "DISABLED", "COMPLETED"]},
                "enabled": {"type": "boolean"},
                "runCount": {"type": "integer"},
                "nextRunDate": {**_DATE, "nullable": True},
                "lastStartDate": {**_DATE, "nullable": True},
                "lastRunStatus": {"type": "string"},
                "lastRunDetail": last_run,
            },
        },
        "SubmittedJobCollection": {
            "type": "object",
            "required": ["items", "links"],
            "properties": {"items": {"type": "array", "items": _ref("SubmittedJob")}, "links": links},
        },
    }
