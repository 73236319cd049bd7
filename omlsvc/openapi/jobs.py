"""The jobs part of the service document (``GET /omlmod/v1/api``): the paths of ``/omlmod/v1/jobs``
(spec ``oml-jobs.md``); their schema components live in :mod:`omlsvc.openapi.job_schemas`.

:mod:`omlsvc.openapi.service` merges them in; error responses refer to the service document's
shared ``components/responses``.
"""

from __future__ import annotations

from typing import Any

from omlsvc.jobs.properties import SERVICE_LEVELS
from omlsvc.openapi.builders import (
    COMMON_ERRORS,
    created,
    integer,
    json_body,
    ok,
    operation,
    paging_parameters,
    path_parameter,
    query,
    schema_ref,
)

_TAGS = ["jobs"]
_DATE = {"type": "string", "format": "date-time"}


def _operation(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return operation(*args, tags=_TAGS, **kwargs)


def _job_id() -> list[dict[str, Any]]:
    text = "The job's id, OML$ + an upper-case UUID with underscores ($ raw or as %24)."
    return [path_parameter("jobId", text)]


def _filters() -> list[dict[str, Any]]:
    return [
        query(
            "jobFlag",
            "Repeatable; jobs carrying every flag given (e.g. MODEL_DELETED).",
            {"type": "array", "items": {"type": "string"}},
        ),
        query("jobName", "Exact job name."),
        query("jobServiceLevel", "LOW, MEDIUM or HIGH.", {"type": "string", "enum": list(SERVICE_LEVELS)}),
        query("jobStatus", "CREATED or UPDATED."),
        query("jobType", "MODEL_SCORING, DATA_MONITORING, MODEL_MONITORING or DATA_BIAS."),
        query("modelId", "Jobs of this model."),
        query("submittedAfter", "Submitted after this instant.", dict(_DATE)),
        query("submittedBefore", "Submitted before this instant.", dict(_DATE)),
        *paging_parameters("Our extension: page size.", None),
    ]


def job_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/jobs": {
            "post": _operation(
                "createJob",
                "Submit a batch scoring (MODEL_SCORING) or monitoring (DATA_MONITORING, MODEL_MONITORING, "
                "DATA_BIAS) job",
                created("Created; Location names the job.", "CreatedJob"),
                (400, 415, *COMMON_ERRORS),
                body=json_body("JobRequest"),
            ),
            "get": _operation(
                "listJobs",
                "The caller's jobs (an admin sees every job)",
                ok("Jobs.", "SubmittedJobCollection"),
                (400, *COMMON_ERRORS),
                parameters=_filters(),
            ),
        },
        **_job_paths(),
        **_job_action_paths(),
    }


def _job_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/jobs/{jobId}": {
            "parameters": _job_id(),
            "get": _operation(
                "getJob",
                "A job: its request, scheduler state and latest run",
                ok("The job.", "SubmittedJob"),
                (404, *COMMON_ERRORS),
            ),
            "post": _operation(
                "updateJob",
                "Change the job's schedule and, for monitoring jobs, updateProperties (fields left out stay)",
                ok("Done.", status="204"),
                (400, 404, 415, *COMMON_ERRORS),
                body=json_body("JobUpdate"),
            ),
            "delete": _operation(
                "deleteJob",
                "Delete a job and its run history (refused while it runs)",
                ok("Done.", status="204"),
                (404, 409, *COMMON_ERRORS),
                parameters=[
                    query(
                        "dropOutputTable",
                        "Our extension: also drop the job's output table (default false).",
                        {"type": "boolean"},
                    )
                ],
            ),
        },
    }


def _job_action_paths() -> dict[str, Any]:
    """The job's sub-resources: its action, its runs, and the poll of a submission."""
    return {
        "/omlmod/v1/jobs/{jobId}/action": {
            "parameters": _job_id(),
            "post": _operation(
                "actOnJob",
                "ENABLE, DISABLE, RUN now or STOP the run in progress",
                ok("Done.", status="204"),
                (400, 404, 409, 415, *COMMON_ERRORS),
                body=json_body("JobAction"),
            ),
        },
        "/omlmod/v1/jobs/{jobId}/runs": {
            "parameters": _job_id(),
            "get": _operation(
                "listJobRuns",
                "The job's runs, most recent first",
                ok("Runs.", {"type": "array", "items": schema_ref("JobRunDetail")}),
                (400, 404, *COMMON_ERRORS),
                parameters=[query("limit", "Only the N most recent runs.", integer(1))],
            ),
        },
        "/omlmod/v1/jobs/{jobId}/check": {
            "parameters": _job_id(),
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
                (404, *COMMON_ERRORS),
            ),
        },
    }
