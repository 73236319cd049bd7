"""Model validation in a child process.

Validating a package parses the whole ONNX graph and builds an onnxruntime session: for a large
model that is hundreds of MB, and a hostile one could crash the runtime. Each validation therefore
runs in a fresh child of a forkserver (one task per child, the forkserver having imported the
validation code once), so the worker's memory stays flat whatever the model size, and a crash or a
runaway costs a child process and yields a clean 400, never a dead worker. Never fork the worker
itself: onnxruntime and database pools do not survive it.

Each child runs under ``resource.setrlimit`` limits: ``RLIMIT_CPU`` (the child is killed by SIGXCPU
beyond it, even inside one onnxruntime node that ``RunOptions.terminate`` cannot interrupt) and
``RLIMIT_AS`` (an allocation beyond it fails, which onnxruntime reports as an error). Children die
with their parent (``PR_SET_PDEATHSIG``): the forkserver when the worker that started it dies, the
validation children when the forkserver does, so killing a worker leaves no process behind.
"""

from __future__ import annotations

import multiprocessing
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from pathlib import Path

from omlsvc.core.errors import InvalidModel
from omlsvc.core.lifelines import die_with_parent
from omlsvc.core.signature import ModelType
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.validation import ValidatedPackage, validate_package

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_PARALLEL = 2
DEFAULT_CPU_S = 120
DEFAULT_MEMORY_BYTES = 8 * 1024 * 1024 * 1024
#: prctl(2) option: the signal a process receives when the thread that created it exits.
#: Preloaded by the forkserver: it makes the forkserver itself die with its parent.
FORKSERVER_PRELOAD = ["omlsvc.repository.forkserver", "omlsvc.repository.validation"]


def limit_child(cpu_s: int, memory_bytes: int) -> None:
    """The initializer of every validation child: die with the forkserver, and run under limits."""
    from omlsvc.repository import forkserver

    die_with_parent(forkserver.SERVER_PID)  # None outside a forkserver: nothing to compare with
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker ends this child, never a Ctrl-C (forkserver)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))  # SIGXCPU, then SIGKILL 5 s later
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


class IsolatedValidator:
    """A drop-in for :func:`validate_package` that runs it in a child process."""

    def __init__(
        self,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        parallel: int = DEFAULT_PARALLEL,
        validate: Callable[[Path, ModelType, ArchiveLimits, Path], ValidatedPackage] = validate_package,
        *,
        cpu_s: int = DEFAULT_CPU_S,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
    ) -> None:
        """``cpu_s`` and ``memory_bytes`` limit each child (``RLIMIT_CPU``, ``RLIMIT_AS``)."""
        self._validate = validate
        self._timeout_s = timeout_s
        self._parallel = parallel
        self._cpu_s = cpu_s
        self._memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def __call__(
        self, zip_path: Path, model_type: ModelType, limits: ArchiveLimits, workdir: Path
    ) -> ValidatedPackage:
        pool = self._executor()
        future = pool.submit(self._validate, zip_path, model_type, limits, workdir)
        children: list[BaseProcess] = list(getattr(pool, "_processes", {}).values())
        try:
            return future.result(timeout=self._timeout_s)
        except BrokenProcessPool:
            self._discard()
            raise self._crashed(children) from None
        except TimeoutError:
            self._discard(kill=True)
            raise InvalidModel(
                f"The model package is invalid: validating it took longer than {self._timeout_s:.0f} s.",
                details=["validation timed out"],
            ) from None

    def close(self) -> None:
        self._discard()

    def _crashed(self, children: list[BaseProcess]) -> InvalidModel:
        """Why the child died, as far as its exit status tells: over its CPU time, or a crash."""
        signals = set()
        for child in children:
            child.join(timeout=1)
            if child.exitcode is not None and child.exitcode < 0:
                signals.add(-child.exitcode)
        if signals & {signal.SIGXCPU, signal.SIGKILL}:
            return InvalidModel(
                f"The model package is invalid: validating it used more than {self._cpu_s} s of CPU time.",
                details=[
                    f"loading the model and running it once on a dummy batch used more than {self._cpu_s} s "
                    "of CPU time (OMLSVC_VALIDATION_CPU_SECONDS)"
                ],
            )
        return InvalidModel(
            "The model package is invalid: loading it crashed the ONNX runtime.",
            details=["onnxruntime terminated while loading or running the model"],
        )

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(FORKSERVER_PRELOAD)
                self._pool = ProcessPoolExecutor(
                    self._parallel,
                    mp_context=context,
                    max_tasks_per_child=1,
                    initializer=limit_child,
                    initargs=(self._cpu_s, self._memory_bytes),
                )
            return self._pool

    def _discard(self, kill: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        # wait: without it the pool's manager thread may still be replacing a finished child
        # (max_tasks_per_child) when shutdown empties its process table, and die of a TypeError.
        pool.shutdown(wait=True, cancel_futures=True)
