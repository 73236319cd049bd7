"""Execution providers, session options and the per-worker session cache (ARCHITECTURE "Per-worker
sessions").

Nothing here touches CUDA or creates a session at import time, nor when a :class:`SessionCache` is
constructed: sessions do not survive a fork, so they are built lazily, in the worker that uses them.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from omlsvc.errors import ScoringFailed
from omlsvc.scoring.images import ImageOptions
from omlsvc.scoring.inputs import InputLimits
from omlsvc.scoring.scorer import PreparedModel, scoring_failed
from omlsvc.signature import ScoringSpec

logger = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
DEFAULT_CACHE_CAPACITY = 16
#: seconds ``nvidia-smi -L`` may take before we decide there is no usable GPU.
NVIDIA_SMI_TIMEOUT = 5.0
NVIDIA_PROC_DIR = "/proc/driver/nvidia/gpus"

Provider = str | tuple[str, dict[str, Any]]


def choose_providers(available: Sequence[str], worker_index: int, gpu_count: int) -> list[Provider]:
    """CUDA on GPU ``worker_index % gpu_count`` (then CPU as fallback) when onnxruntime offers CUDA
    and there is a GPU; otherwise CPU only. Spreading workers round-robin keeps every GPU busy."""
    if CUDA_PROVIDER in available and gpu_count > 0:
        return [(CUDA_PROVIDER, {"device_id": worker_index % gpu_count}), CPU_PROVIDER]
    return [CPU_PROVIDER]


def detect_gpu_count(
    environ: Mapping[str, str] | None = None,
    *,
    proc_dir: str | os.PathLike[str] = NVIDIA_PROC_DIR,
    nvidia_smi: str | None = "",
    timeout: float = NVIDIA_SMI_TIMEOUT,
) -> int:
    """How many GPUs this process may use, without touching CUDA.

    Hardware is counted from the NVIDIA driver's ``/proc`` entries, else from ``nvidia-smi -L``
    (``nvidia_smi=""`` looks it up on PATH, ``None`` skips it). ``CUDA_VISIBLE_DEVICES``, when set,
    narrows that (an empty value or ``-1`` means none). On a machine without the NVIDIA driver this
    is a couple of failed ``stat`` calls: it returns 0 at once.
    """
    env = os.environ if environ is None else environ
    hardware = _count_proc_gpus(Path(proc_dir))
    if hardware == 0:
        tool = shutil.which("nvidia-smi") if nvidia_smi == "" else nvidia_smi
        if tool:
            hardware = _count_nvidia_smi_gpus(tool, timeout)
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return hardware
    count = 0
    for entry in visible.split(","):
        entry = entry.strip()
        if not entry or entry.startswith("-") or entry == "NoDevFiles":
            break  # CUDA ignores everything from the first invalid entry on
        count += 1
    return min(count, hardware) if hardware else count


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity masks such as ``taskset`` and cgroups cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_intra_op_threads(workers: int, cores: int | None = None) -> int:
    """Cores divided among workers, at least 1: N workers each using every core oversubscribe the CPU."""
    total = available_cores() if cores is None else cores
    return max(1, total // max(1, workers))


def make_session_options(intra_op_threads: int | None = None, *, workers: int = 1) -> ort.SessionOptions:
    """Options for one worker's sessions: its share of cores, no spin-waiting, all graph optimisations.

    ``intra_op_threads`` defaults to :func:`default_intra_op_threads` for ``workers`` workers.

    Spin-waiting makes idle threads burn CPU for a while after every run; with several workers per
    host it steals cores from the others, so it is off. Inter-op parallelism is 1 because the graphs
    we serve are small and sequential.
    """
    options = ort.SessionOptions()
    threads = default_intra_op_threads(workers) if intra_op_threads is None else intra_op_threads
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: per-model optimiser warnings are noise in service logs
    return options


@dataclass(frozen=True)
class LoadedModel:
    """A cached model: its onnxruntime session and the :class:`PreparedModel` that scores with it."""

    sha256: str
    session: ort.InferenceSession
    model: PreparedModel
    #: the providers the session actually uses, best first (CUDA may have fallen back to CPU).
    providers: tuple[str, ...]


class SessionCache:
    """A worker's bounded LRU of loaded models, keyed by the model zip's sha256.

    ``get`` builds on first use from the local file ``loader(sha256)`` returns (the loader fetches and
    extracts the stored BLOB; any error it raises passes through). Concurrent callers of ``get`` for
    the same key wait for a single build (a per-key lock); different keys build in parallel. The
    least recently used entry is dropped beyond ``capacity``; requests still running on it keep
    their reference, and the session is freed when the last one finishes.

    A key's spec must not change (the sha256 identifies the zip, which determines the spec): the spec
    passed to the ``get`` that builds an entry is the one it keeps.
    """

    def __init__(
        self,
        capacity: int,
        loader: Callable[[str], Path],
        options_factory: Callable[[], ort.SessionOptions],
        providers: Sequence[Provider],
        *,
        limits: InputLimits | None = None,
        image_options: ImageOptions | None = None,
        warm_up: bool = False,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._loader = loader
        self._options_factory = options_factory
        self._providers = list(providers)
        self._limits = limits
        self._image_options = image_options
        self._warm_up = warm_up
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, LoadedModel] = OrderedDict()
        self._building: dict[str, threading.Lock] = {}

    def get(self, sha256: str, spec: ScoringSpec, *, warm_up: bool | None = None) -> LoadedModel:
        """The loaded model for ``sha256``, built (and warmed up if asked) on first use."""
        with self._lock:
            entry = self._entries.get(sha256)
            if entry is not None:
                self._entries.move_to_end(sha256)
                return entry
            key_lock = self._building.setdefault(sha256, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._entries.get(sha256)
                if entry is not None:
                    self._entries.move_to_end(sha256)
                    return entry
            try:
                entry = self._build(sha256, spec, self._warm_up if warm_up is None else warm_up)
                with self._lock:
                    self._entries[sha256] = entry
                    while len(self._entries) > self.capacity:
                        evicted, _ = self._entries.popitem(last=False)
                        logger.info("evicted model %s from the session cache", evicted[:12])
            finally:
                with self._lock:
                    if self._building.get(sha256) is key_lock:
                        del self._building[sha256]
        return entry

    def peek(self, sha256: str) -> LoadedModel | None:
        """The entry if cached, without building it or refreshing its recency."""
        with self._lock:
            return self._entries.get(sha256)

    def evict(self, sha256: str) -> bool:
        """Drop one entry (e.g. its model was deleted); True if it was cached."""
        with self._lock:
            return self._entries.pop(sha256, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def keys(self) -> list[str]:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._entries

    def _build(self, sha256: str, spec: ScoringSpec, warm_up: bool) -> LoadedModel:
        path = Path(self._loader(sha256))
        hide = (str(path), str(path.parent))
        try:
            session = ort.InferenceSession(
                str(path), sess_options=self._options_factory(), providers=self._providers
            )
        except Exception as exc:
            if not path.exists():  # the disk cache was removed under us: the caller fetches again
                raise FileNotFoundError(f"model {sha256[:12]} left the disk cache while loading") from exc
            raise scoring_failed(exc, f"model {sha256[:12]} could not be loaded", hide=hide) from exc
        model = PreparedModel(
            spec,
            session,
            limits=self._limits,
            image_options=self._image_options,
            hide=hide,
        )
        if warm_up:
            try:
                model.warm_up()
                logger.debug("warmed up model %s", sha256[:12])
            except ScoringFailed as exc:
                # zeros or empty strings are not valid input for every model (an encoder that refuses
                # unknown categories); the model still serves real requests, so this is not fatal.
                logger.warning("warm-up of model %s failed: %s", sha256[:12], exc.message)
        return LoadedModel(sha256, session, model, tuple(session.get_providers()))


def _count_proc_gpus(proc_dir: Path) -> int:
    try:
        return sum(1 for _ in proc_dir.iterdir())
    except OSError:
        return 0


def _count_nvidia_smi_gpus(tool: str, timeout: float) -> int:
    try:
        done = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    if done.returncode != 0:
        return 0
    return sum(1 for line in done.stdout.splitlines() if line.startswith("GPU "))
