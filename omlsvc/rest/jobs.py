"""``/omlmod/v1/jobs`` (spec ``oml-jobs.md`` section 2): HTTP in and out, nothing else.

Job ids hold a ``$``; links percent-encode it (``OML%24...``) as Oracle's service does, and paths
accept it either way.
"""

from __future__ import annotations

import falcon

from omlsvc.core.errors import InvalidInput
from omlsvc.jobs.lifecycle import parse_job_id
from omlsvc.jobs.records import JobFilter
from omlsvc.jobs.schedule import parse_timestamp
from omlsvc.jobs.service import JobService
from omlsvc.rest.job_views import job_view, run_view
from omlsvc.rest.web import base_url, collection_links, paging, read_json_object, text_param

JOBS = "/omlmod/v1/jobs"
BODY_LIMIT = 256 * 1024


def job_path(job_id: str) -> str:
    return f"{JOBS}/{job_id.replace('$', '%24')}"


def _self_links(req: falcon.Request, job_id: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": base_url(req) + job_path(job_id)}]


class JobCollection:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        job_id = self._jobs.create(req.context.principal, read_json_object(req, BODY_LIMIT))
        resp.status = falcon.HTTP_201
        resp.location = base_url(req) + job_path(job_id)
        resp.media = {"jobId": job_id, "links": _self_links(req, job_id)}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        offset, limit = paging(req)
        flags = req.get_param_as_list("jobFlag") or []
        where = JobFilter(
            name=text_param(req, "jobName"),
            service_level=_upper(text_param(req, "jobServiceLevel")),
            job_status=_upper(text_param(req, "jobStatus")),
            job_type=_upper(text_param(req, "jobType")),
            model_id=text_param(req, "modelId"),
            submitted_after=parse_timestamp(req.get_param("submittedAfter"), "submittedAfter"),
            submitted_before=parse_timestamp(req.get_param("submittedBefore"), "submittedBefore"),
            flags=frozenset(flag.strip().upper() for flag in flags if flag.strip()),
        )
        details, more = self._jobs.list_jobs(req.context.principal, where, offset, limit)
        resp.media = {
            "items": [job_view(d, _self_links(req, d.job.id)) for d in details],
            "links": collection_links(req, JOBS, offset=offset, limit=limit, more=more),
        }


class Job:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response, jobId: str) -> None:
        job_id = parse_job_id(jobId)
        resp.media = job_view(self._jobs.get(req.context.principal, job_id), _self_links(req, job_id))

    def on_post(self, req: falcon.Request, resp: falcon.Response, jobId: str) -> None:
        self._jobs.update(req.context.principal, parse_job_id(jobId), read_json_object(req, BODY_LIMIT))
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, jobId: str) -> None:
        drop = req.get_param_as_bool("dropOutputTable", default=False)
        self._jobs.delete(req.context.principal, parse_job_id(jobId), drop_output=bool(drop))
        resp.status = falcon.HTTP_204


class JobAction:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    def on_post(self, req: falcon.Request, resp: falcon.Response, jobId: str) -> None:
        body = read_json_object(req, BODY_LIMIT)
        unknown = sorted(set(body) - {"action", "force"})
        if unknown:
            raise InvalidInput(f"Unknown field(s) {', '.join(unknown)}; send action (and force).")
        self._jobs.act(
            req.context.principal, parse_job_id(jobId), body.get("action"), body.get("force", False)
        )
        resp.status = falcon.HTTP_204


class JobRuns:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response, jobId: str) -> None:
        _, limit = paging(req, max_limit=10_000)
        runs = self._jobs.runs(req.context.principal, parse_job_id(jobId), limit)
        resp.media = [run_view(run) for run in runs]


class JobCheck:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response, jobId: str) -> None:
        job_id = parse_job_id(jobId)
        self._jobs.check(req.context.principal, job_id)
        resp.status = falcon.HTTP_302
        resp.location = base_url(req) + job_path(job_id)


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()
