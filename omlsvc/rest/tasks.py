"""``/omlmod/v1/tasks/{taskId}`` and the task-starting model routes (issue 15): HTTP in and out.

Every submission answers 202 with the task's document and its ``Location``; the task is then read
by polling that location.
"""

from __future__ import annotations

import json
from typing import Any

import falcon

from omlsvc.rest.model_views import iso_timestamp
from omlsvc.rest.web import link, read_json_object
from omlsvc.tasks.records import TaskRecord
from omlsvc.tasks.service import TaskService

TASKS = "/omlmod/v1/tasks"
MODELS = "/omlmod/v1/models"
BODY_LIMIT = 16 * 1024


def task_view(req: falcon.Request, task: TaskRecord) -> dict[str, Any]:
    """``{"taskId", "kind", "status", "progress", "message", "result", "links"}`` and timestamps."""
    view: dict[str, Any] = {
        "taskId": task.id,
        "kind": task.kind,
        "status": task.status,
        "progress": round(task.progress, 4),
        "message": task.message or "",
        "result": json.loads(task.result) if task.result else {},
        "attempts": task.attempts,
        "createdBy": task.owner,
        "submittedOn": iso_timestamp(task.created_at),
    }
    if task.model_id is not None:
        view["modelId"] = task.model_id
    if task.started_at is not None:
        view["startedOn"] = iso_timestamp(task.started_at)
    if task.finished_at is not None:
        view["finishedOn"] = iso_timestamp(task.finished_at)
    links = [link(req, f"{TASKS}/{task.id}")]
    model_id = view["result"].get("modelId") if isinstance(view["result"], dict) else None
    if task.status == "SUCCEEDED" and isinstance(model_id, str):
        links.append(link(req, f"{MODELS}/{model_id}", "model"))
    view["links"] = links
    return view


def accepted(req: falcon.Request, resp: falcon.Response, task: TaskRecord) -> None:
    resp.status = falcon.HTTP_202
    resp.location = f"{TASKS}/{task.id}"
    resp.media = task_view(req, task)


class Task:
    def __init__(self, tasks: TaskService) -> None:
        self._tasks = tasks

    def on_get(self, req: falcon.Request, resp: falcon.Response, taskId: str) -> None:
        resp.media = task_view(req, self._tasks.get_task(req.context.principal, taskId))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, taskId: str) -> None:
        resp.media = task_view(req, self._tasks.cancel_task(req.context.principal, taskId))


class ModelVariants:
    """``POST /models/{modelId}/variants``: derive an fp16, int8 or optimized variant."""

    def __init__(self, tasks: TaskService) -> None:
        self._tasks = tasks

    def on_post(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        body = read_json_object(req, BODY_LIMIT)
        accepted(req, resp, self._tasks.submit_variant(req.context.principal, model_id, body))


class ModelProfile:
    """``POST /models/{modelId}/profile``: measure the model on this host."""

    def __init__(self, tasks: TaskService) -> None:
        self._tasks = tasks

    def on_post(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        body = read_json_object(req, BODY_LIMIT, required=False)
        accepted(req, resp, self._tasks.submit_profile(req.context.principal, model_id, body))


class ModelProfiles:
    """``GET /models/{modelId}/profiles``: the stored profiles, newest first."""

    def __init__(self, tasks: TaskService) -> None:
        self._tasks = tasks

    def on_get(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        profiles = self._tasks.list_profiles(req.context.principal, model_id)
        resp.media = {
            "items": [
                {
                    "taskId": p.id,
                    "profiledOn": iso_timestamp(p.finished_at or p.created_at),
                    **json.loads(p.result or "{}"),
                }
                for p in profiles
            ],
            "links": [link(req, f"{MODELS}/{model_id}/profiles")],
        }
