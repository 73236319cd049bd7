"""What each kind of task does, over the services it is given: the repository's (store and read
models: the same validation and storage as an upload) and the users' (who the submitter is now).

* **IMPORT** streams ``sourceUrl`` to the scratch directory under the upload's size limit
  (:mod:`omlsvc.core.fetch`), checks the optional sha256, then stores it exactly as an upload;
* **VARIANT** writes the source's package to disk, derives the new graph in a child process
  (:mod:`omlsvc.tasks.variants`), packs it with the source's other files and stores it as a new model;
* **PROFILE** runs the model in a child process (:mod:`omlsvc.tasks.profiling`).

Every temporary file lives in a private folder under the scratch directory and is removed whatever
happens; a task run again after its runner died finds its model already stored and is done.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from omlsvc.core.authorization import Principal, may_manage_model
from omlsvc.core.errors import Forbidden, InvalidInput
from omlsvc.core.fetch import FetchLimits, fetch
from omlsvc.core.urlsafety import AddressPolicy
from omlsvc.repository.archive import extract_package
from omlsvc.repository.form import parse_model_form
from omlsvc.repository.rows import ModelRecord
from omlsvc.repository.service import ModelService, Upload
from omlsvc.tasks import profiling, variants
from omlsvc.tasks.isolated import run_isolated
from omlsvc.tasks.records import TaskRecord
from omlsvc.tasks.worker import Outcome, Progress

#: Progress is written at most this often while bytes arrive (one small UPDATE each).
PROGRESS_EVERY_S = 0.5


class TaskOwners(Protocol):
    """Who submitted a task, as they are now (:class:`omlsvc.auth.service.AuthService`)."""

    def principal_of(self, name: str) -> Principal | None: ...


@dataclass(frozen=True)
class ChildLimits:
    """What a variant's or a profile's child process may use."""

    timeout_s: float = 600.0
    cpu_s: int = 600
    memory_bytes: int = 8 * 1024 * 1024 * 1024
    #: intra-op threads of a profiled session (0: onnxruntime's default, every core)
    threads: int = 0


class TaskHandlers:
    def __init__(
        self,
        models: ModelService,
        owners: TaskOwners,
        policy: AddressPolicy,
        fetch_limits: FetchLimits,
        child_limits: ChildLimits | None = None,
    ) -> None:
        self._models = models
        self._owners = owners
        self._policy = policy
        self._fetch_limits = fetch_limits
        self._child = child_limits or ChildLimits()

    def as_mapping(self) -> dict[str, Any]:
        from omlsvc.tasks.records import IMPORT, PROFILE, VARIANT

        return {IMPORT: self.run_import, VARIANT: self.run_variant, PROFILE: self.run_profile}

    # -- import ----------------------------------------------------------------------------------

    def run_import(self, task: TaskRecord, progress: Progress) -> Outcome:
        params = json.loads(task.params)
        principal = self._owner(task)
        assert task.model_id is not None
        done = self._models.record(task.model_id)
        if done is None:
            form = parse_model_form({**params, "shared": "true" if params["shared"] else "false"})
            with self._workdir() as workdir:
                path = workdir / "import.zip"
                with path.open("wb") as handle:
                    sink = _HashingWriter(handle)
                    progress(0.0, "Downloading.")
                    fetch(params["sourceUrl"], sink, self._policy, self._fetch_limits, _throttled(progress))
                digest = sink.hexdigest()
                if params.get("sha256") and digest != params["sha256"]:
                    raise InvalidInput(
                        f"The downloaded file's sha256 is {digest}, not the {params['sha256']} the request gave."
                    )
                progress(0.9, "Validating and storing.")
                upload = Upload(path=path, size_bytes=sink.size, sha256=digest)
                done = self._models.store_model(principal, form, upload, model_id=task.model_id)
        return Outcome(
            f"Stored model {done.name} version {done.version}.",
            {"modelId": done.id, "sha256": done.sha256, "sizeBytes": done.size_bytes},
        )

    # -- variants --------------------------------------------------------------------------------

    def run_variant(self, task: TaskRecord, progress: Progress) -> Outcome:
        params = json.loads(task.params)
        principal = self._owner(task)
        source = self._source(principal, params["sourceModelId"], "derive variants of it")
        kind = params["kind"]
        done = self._models.record(params["modelId"])
        with self._workdir() as workdir:
            source_zip = self._write_content(source, workdir / "source.zip")
            onnx_path = extract_package(source_zip, workdir / "source", self._models.archive_limits)
            if any(p.name != onnx_path.name for p in onnx_path.parent.iterdir()):
                raise InvalidInput("Variants of models with external data files are not supported.")
            progress(0.2, f"Deriving the {kind} variant.")
            target = workdir / "variant.onnx"
            comparison = run_isolated(
                variants.derive,
                onnx_path,
                kind,
                target,
                self._models.spec(source).image,
                timeout_s=self._child.timeout_s,
                cpu_s=self._child.cpu_s,
                memory_bytes=self._child.memory_bytes,
                what=f"Deriving the {kind} variant",
            )
            if done is None:
                progress(0.7, "Validating and storing.")
                package = _repack(source_zip, onnx_path.name, target, workdir / "variant.zip")
                form = parse_model_form(
                    {
                        "modelName": source.name,
                        "version": params["version"],
                        "modelType": source.model_type,
                        "namespace": source.namespace,
                        "description": source.description,
                        "shared": "true" if source.shared else "false",
                    }
                )
                done = self._models.store_model(
                    principal,
                    form,
                    package,
                    model_id=params["modelId"],
                    derived_from=json.dumps({"modelId": source.id, "kind": kind}, sort_keys=True),
                )
        result = {
            "modelId": done.id,
            "kind": kind,
            "derivedFrom": source.id,
            "sourceSizeBytes": source.size_bytes,
            "variantSizeBytes": done.size_bytes,
            **comparison,
        }
        return Outcome(f"Stored the {kind} variant as {done.name} version {done.version}.", result)

    # -- profiles --------------------------------------------------------------------------------

    def run_profile(self, task: TaskRecord, progress: Progress) -> Outcome:
        params = json.loads(task.params)
        principal = self._owner(task)
        assert task.model_id is not None
        source = self._source(principal, task.model_id, "profile it")
        with self._workdir() as workdir:
            source_zip = self._write_content(source, workdir / "source.zip")
            onnx_path = extract_package(source_zip, workdir / "model", self._models.archive_limits)
            progress(0.1, "Profiling.")
            figures = run_isolated(
                profiling.profile,
                onnx_path,
                params["batchSizes"],
                params["seconds"],
                params.get("providers"),
                self._models.spec(source).image,
                self._child.threads,
                timeout_s=self._child.timeout_s,
                cpu_s=self._child.cpu_s,
                memory_bytes=self._child.memory_bytes,
                what="Profiling the model",
                still_wanted=lambda: progress(0.1, None),  # a cancel stops the profile at once
            )
        if not figures["results"]:
            raise InvalidInput(
                f"None of the providers asked for is available here ({', '.join(figures['skipped'])})."
            )
        result = {"modelId": source.id, "seconds": params["seconds"], **figures}
        return Outcome(f"Profiled {len(figures['results'])} batch size and provider pairs.", result)

    # -- helpers ---------------------------------------------------------------------------------

    def _owner(self, task: TaskRecord) -> Principal:
        principal = self._owners.principal_of(task.owner)
        if principal is None:
            raise Forbidden(f"The user {task.owner} who submitted this task is disabled or gone.")
        return principal

    def _source(self, principal: Principal, model_id: str, action: str) -> ModelRecord:
        """The source model as its submitter may still use it now (it may be gone, or its owner's)."""
        record = self._models.get_model(principal, model_id)
        if not may_manage_model(principal, record.access):
            raise Forbidden(f"Only the creator of model {model_id} ({record.owner}) may {action}.")
        return record

    def _write_content(self, record: ModelRecord, path: Path) -> Path:
        with path.open("wb") as handle:
            for block in self._models.iter_content(record):
                handle.write(block)
        if path.stat().st_size != record.size_bytes:
            raise InvalidInput(f"Model {record.id} was deleted while the task read it.")
        return path

    @contextmanager
    def _workdir(self) -> Iterator[Path]:
        workdir = Path(tempfile.mkdtemp(prefix="task-", dir=self._models.scratch_dir))
        try:
            yield workdir
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _repack(source_zip: Path, onnx_name: str, onnx_path: Path, target: Path) -> Upload:
    """The source's package with its graph replaced; entries keep their names and order."""
    with zipfile.ZipFile(source_zip) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.is_dir():
                continue
            if info.filename.rsplit("/", 1)[-1] == onnx_name:
                out.write(onnx_path, info.filename)
            else:
                out.writestr(info.filename, source.read(info))
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return Upload(path=target, size_bytes=target.stat().st_size, sha256=digest.hexdigest())


class _HashingWriter:
    """A sink that hashes and counts what it writes."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        return self._handle.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _throttled(progress: Progress) -> Any:
    last = [0.0]

    def report(received: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        fraction = 0.8 * received / total if total else 0.0
        shown = f"{received} of {total} bytes" if total else f"{received} bytes"
        progress(fraction, f"Downloading: {shown}.")

    return report
