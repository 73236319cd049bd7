"""Model validation in a child process.

Validating a package parses the whole ONNX graph and builds an onnxruntime session: for a large
model that is hundreds of MB, and a hostile one could crash the runtime. Each validation therefore
runs in a fresh child of a forkserver (one task per child, the forkserver having imported the
validation code once), so the worker's memory stays flat whatever the model size, and a crash or a
runaway costs a child process and yields a clean 400, never a dead worker. Never fork the worker
itself: onnxruntime and database pools do not survive it.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from omlsvc.errors import InvalidModel
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.validation import ValidatedPackage, validate_package
from omlsvc.signature import ModelType

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_PARALLEL = 2


class IsolatedValidator:
    """A drop-in for :func:`validate_package` that runs it in a child process."""

    def __init__(
        self,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        parallel: int = DEFAULT_PARALLEL,
        validate: Callable[[Path, ModelType, ArchiveLimits, Path], ValidatedPackage] = validate_package,
    ) -> None:
        self._validate = validate
        self._timeout_s = timeout_s
        self._parallel = parallel
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def __call__(
        self, zip_path: Path, model_type: ModelType, limits: ArchiveLimits, workdir: Path
    ) -> ValidatedPackage:
        future = self._executor().submit(self._validate, zip_path, model_type, limits, workdir)
        try:
            return future.result(timeout=self._timeout_s)
        except BrokenProcessPool:
            self._discard()
            raise InvalidModel(
                "The model package is invalid: loading it crashed the ONNX runtime.",
                details=["onnxruntime terminated while loading the model"],
            ) from None
        except TimeoutError:
            self._discard(kill=True)
            raise InvalidModel(
                f"The model package is invalid: validating it took longer than {self._timeout_s:.0f} s.",
                details=["validation timed out"],
            ) from None

    def close(self) -> None:
        self._discard()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["omlsvc.repository.validation"])
                self._pool = ProcessPoolExecutor(self._parallel, mp_context=context, max_tasks_per_child=1)
            return self._pool

    def _discard(self, kill: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
