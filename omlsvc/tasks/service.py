"""Use cases of tasks: submit an import, a variant or a profile, read a task, cancel it, list a model's
profiles. Each submission only checks its request and queues a row; the runners do the work
(:mod:`omlsvc.tasks.worker`).

Rules come from :mod:`omlsvc.core.authorization`: a task is its submitter's (others get 404, admins
see all); a variant or a profile needs the right to manage its source model; a model's profiles are
read by whoever may see the model.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from omlsvc.core.authorization import Principal, may_manage_model, may_see_task, require_principal
from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from omlsvc.core.patterns import SHA256_HEX, TASK_ID, VERSION
from omlsvc.core.urlsafety import AddressPolicy
from omlsvc.db.transactions import Transactions
from omlsvc.repository.form import parse_model_form
from omlsvc.repository.rows import ModelRecord
from omlsvc.repository.service import ModelService
from omlsvc.tasks.records import CANCELED, IMPORT, PROFILE, QUEUED, VARIANT, TaskRecord
from omlsvc.tasks.store import TaskStore

IMPORT_FIELDS = frozenset(
    {"modelName", "version", "modelType", "namespace", "description", "shared", "sourceUrl", "sha256"}
)
VARIANT_KINDS = ("fp16", "int8", "optimized")
PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider")
DEFAULT_BATCH_SIZES = (1, 8, 64)
MAX_BATCH_SIZES = 8
MAX_BATCH_SIZE = 4096
DEFAULT_PROFILE_SECONDS = 2.0
MAX_PROFILE_SECONDS = 60.0
MAX_PROFILES_LISTED = 50


class TaskService:
    def __init__(
        self,
        transactions: Transactions,
        models: ModelService,
        policy: AddressPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        """``policy`` decides which import URLs are refused at once (the runner checks again)."""
        self._transactions = transactions
        self._models = models
        self._policy = policy
        self._clock = clock
        self._new_id = new_id

    # -- submit ----------------------------------------------------------------------------------

    def submit_import(self, principal: Principal, body: Mapping[str, Any]) -> TaskRecord:
        """Queue an import of the zip at ``sourceUrl`` as a new model of the caller's; the form is
        checked as an upload's is, and the URL refused now when it cannot be fetched from."""
        principal = require_principal(principal)
        unknown = sorted(set(body) - IMPORT_FIELDS)
        if unknown:
            raise InvalidInput(f"Unknown field(s) {', '.join(unknown)[:200]}.")
        fields = {k: body.get(k) for k in ("modelName", "version", "modelType", "namespace", "description")}
        problems = [
            f"{k} must be a string." for k, v in fields.items() if v is not None and not isinstance(v, str)
        ]
        shared = body.get("shared", False)
        if not isinstance(shared, bool):
            problems.append("shared must be true or false.")
        url = body.get("sourceUrl")
        if not isinstance(url, str):
            problems.append("sourceUrl is required: the http or https URL of the zipped model.")
        sha256 = body.get("sha256")
        if sha256 is not None and (not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256)):
            problems.append("sha256 must be 64 hexadecimal digits.")
        if problems:
            raise InvalidInput("The import is invalid: " + " ".join(problems), details=problems)
        form = parse_model_form({**fields, "shared": "true" if shared else "false"})
        assert isinstance(url, str)
        self._policy.check(url)
        params = {
            "modelName": form.name,
            "version": form.version,
            "modelType": form.model_type.value,
            "namespace": form.namespace,
            "description": form.description,
            "shared": form.shared,
            "sourceUrl": url,
            "sha256": sha256.lower() if isinstance(sha256, str) else None,
        }
        return self._queue(principal, IMPORT, str(uuid.uuid4()), params)

    def submit_variant(self, principal: Principal, model_id: str, body: Mapping[str, Any]) -> TaskRecord:
        """Queue deriving an ``fp16``, ``int8`` or ``optimized`` variant of a model one manages, stored
        as a new model of the caller's (same name, the given version)."""
        source = self._managed(principal, model_id, "derive variants of it")
        unknown = sorted(set(body) - {"kind", "version"})
        problems = [f"Unknown field(s) {', '.join(unknown)[:200]}."] if unknown else []
        kind = body.get("kind")
        if kind not in VARIANT_KINDS:
            problems.append(f"kind must be {', '.join(VARIANT_KINDS)}.")
        version = body.get("version")
        if not isinstance(version, str) or not VERSION.fullmatch(version):
            problems.append("version is required and must look like 1, 1.0 or 10.25.")
        if problems:
            raise InvalidInput("The variant request is invalid: " + " ".join(problems), details=problems)
        params = {"kind": kind, "version": version, "sourceModelId": source.id, "modelId": str(uuid.uuid4())}
        return self._queue(principal, VARIANT, source.id, params)

    def submit_profile(self, principal: Principal, model_id: str, body: Mapping[str, Any]) -> TaskRecord:
        """Queue a profile of a model one manages (it runs on this host's cores for a while)."""
        source = self._managed(principal, model_id, "profile it")
        params = parse_profile_request(body)
        return self._queue(principal, PROFILE, source.id, params)

    # -- read and cancel -------------------------------------------------------------------------

    def get_task(self, principal: Principal, task_id: str) -> TaskRecord:
        require_principal(principal)
        with self._transactions() as uow:
            return _seen(_get(TaskStore(uow.connection), task_id), principal, task_id)

    def cancel_task(self, principal: Principal, task_id: str) -> TaskRecord:
        """A queued task ends CANCELED at once; a running one is asked to stop and ends CANCELED at its
        next step; a finished one cannot be canceled (409)."""
        require_principal(principal)
        with self._transactions(write=True) as uow:
            store = TaskStore(uow.connection)
            task = _seen(_get(store, task_id, for_update=True), principal, task_id)
            if task.finished:
                raise Conflict(f"Task {task_id} already ended {task.status}.")
            if task.status == QUEUED:
                store.update(task_id, status=CANCELED, finished_at=self._clock(), message="Canceled.")
            else:
                store.update(task_id, cancel_requested=True)
            uow.commit()
            updated = store.get(task_id)
        assert updated is not None
        return updated

    def list_profiles(self, principal: Principal, model_id: str) -> list[TaskRecord]:
        """The model's completed profiles, newest first: whoever may see the model reads them."""
        self._models.get_model(principal, model_id)
        with self._transactions() as uow:
            return TaskStore(uow.connection).profiles(model_id, MAX_PROFILES_LISTED)

    # -- helpers ---------------------------------------------------------------------------------

    def _managed(self, principal: Principal, model_id: str, action: str) -> ModelRecord:
        record = self._models.get_model(principal, model_id)
        if not may_manage_model(principal, record.access):
            raise Forbidden(f"Only the creator of model {model_id} ({record.owner}) may {action}.")
        return record

    def _queue(self, principal: Principal, kind: str, model_id: str, params: dict[str, Any]) -> TaskRecord:
        record = TaskRecord(
            id=self._new_id(),
            kind=kind,
            owner=principal.name,
            model_id=model_id,
            status=QUEUED,
            progress=0.0,
            message="Queued.",
            params=json.dumps(params, sort_keys=True),
            result=None,
            created_at=self._clock(),
            started_at=None,
            finished_at=None,
            claimed_by=None,
            lease_until=None,
            attempts=0,
            cancel_requested=False,
        )
        with self._transactions(write=True) as uow:
            TaskStore(uow.connection).add(record)
            uow.commit()
        return record


def parse_profile_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """``{"batchSizes", "seconds", "providers"}``, each optional, every problem at once."""
    problems: list[str] = []
    unknown = sorted(set(body) - {"batchSizes", "seconds", "providers"})
    if unknown:
        problems.append(f"Unknown field(s) {', '.join(unknown)[:200]}.")
    sizes = body.get("batchSizes", list(DEFAULT_BATCH_SIZES))
    if (
        not isinstance(sizes, list)
        or not 1 <= len(sizes) <= MAX_BATCH_SIZES
        or not all(type(s) is int and 1 <= s <= MAX_BATCH_SIZE for s in sizes)
        or len(set(sizes)) != len(sizes)
    ):
        problems.append(
            f"batchSizes must be 1 to {MAX_BATCH_SIZES} different integers from 1 to {MAX_BATCH_SIZE}."
        )
    seconds = body.get("seconds", DEFAULT_PROFILE_SECONDS)
    if (
        type(seconds) not in (int, float)
        or not math.isfinite(seconds)
        or not 0.1 <= seconds <= MAX_PROFILE_SECONDS
    ):
        problems.append(f"seconds must be a number from 0.1 to {MAX_PROFILE_SECONDS:g}.")
    providers = body.get("providers")
    if providers is not None and (
        not isinstance(providers, list)
        or not 1 <= len(providers) <= len(PROVIDERS)
        or not all(p in PROVIDERS for p in providers)
        or len(set(providers)) != len(providers)
    ):
        problems.append(f"providers must list some of {', '.join(PROVIDERS)}.")
    if problems:
        raise InvalidInput("The profile request is invalid: " + " ".join(problems), details=problems)
    return {"batchSizes": sizes, "seconds": float(seconds), "providers": providers}


def _get(store: TaskStore, task_id: str, *, for_update: bool = False) -> TaskRecord | None:
    if not TASK_ID.fullmatch(task_id):
        return None
    return store.get(task_id, for_update=for_update)


def _seen(task: TaskRecord | None, principal: Principal, task_id: str) -> TaskRecord:
    if task is None or not may_see_task(principal, task.owner):
        raise NotFound(f"Task {task_id[:64]} does not exist.")
    return task
