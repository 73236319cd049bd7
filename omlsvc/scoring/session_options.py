"""How this worker's onnxruntime sessions are configured: execution providers (GPU detection without
touching CUDA), session and run options, and the process's bounded CPU arena.

Nothing here touches CUDA or creates a session at import time: the per-worker session cache
(:mod:`omlsvc.scoring.sessions`) applies these options lazily, in the worker that builds a session.

Memory (ARCHITECTURE "Bounded work"). onnxruntime's default CPU arena keeps the high-water mark of
every run for the life of its session: one request that makes a graph allocate 3 GB leaves the
worker at 3 GB. With a memory limit, every session of a worker instead allocates from one CPU arena
registered for the whole process (:func:`use_bounded_cpu_allocator`): it grows by what is asked
(``kSameAsRequested``), refuses to hold more than the limit, and gives freed memory back after each
run (the ``memory.enable_memory_arena_shrinkage`` run option). Measured on a ConstantOfShape([k, k])
graph: the default arena stays at 1.2 GB after a k = 15,000 run; disabling the arena
(``enable_cpu_mem_arena=False``) and the bounded arena both return to the 80 MB baseline; a small run
costs 11, 14 and 23 us respectively. The arena is the only one of the three that can refuse a run
beyond a limit (onnxruntime offers no cap without it), which answers a request with a 4xx instead
of letting the kernel's OOM killer take the worker; 10 us a run is the price.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
#: seconds ``nvidia-smi -L`` may take before we decide there is no usable GPU.
NVIDIA_SMI_TIMEOUT = 5.0
NVIDIA_PROC_DIR = "/proc/driver/nvidia/gpus"

Provider = str | tuple[str, dict[str, Any]]

#: ``memory.enable_memory_arena_shrinkage``: give the CPU arena's free memory back after each run.
SHRINK_CPU_ARENA = ("memory.enable_memory_arena_shrinkage", "cpu:0")
_ARENA_GROW_AS_REQUESTED = 1  # kSameAsRequested: never round a request up to the next power of two
_bounded_allocator: dict[int, int] = {}  # pid -> the limit registered in that process
_bounded_lock = threading.Lock()


def use_bounded_cpu_allocator(max_bytes: int) -> int:
    """Register, once per process, the CPU arena all sessions of the process share, holding at most
    ``max_bytes``; returns the limit in force (the first one registered in this process wins).

    Sessions use it only when their options say ``session.use_env_allocators`` (as
    :class:`SessionCache` does). Never call this in gunicorn's master: it is per process.
    """
    pid = os.getpid()
    with _bounded_lock:
        if pid not in _bounded_allocator:
            config = ort.OrtArenaCfg(
                {"max_mem": max_bytes, "arena_extend_strategy": _ARENA_GROW_AS_REQUESTED}
            )
            memory = ort.OrtMemoryInfo(
                "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
            )
            ort.create_and_register_allocator(memory, config)
            _bounded_allocator[pid] = max_bytes
        return _bounded_allocator[pid]


def make_run_options(*, shrink_arena: bool = False) -> ort.RunOptions:
    """Options of one run: quiet (errors are translated and reported by us, not logged per run by
    onnxruntime), and giving the shared arena's memory back afterwards when ``shrink_arena``."""
    options = ort.RunOptions()
    options.log_severity_level = 4
    if shrink_arena:
        options.add_run_config_entry(*SHRINK_CPU_ARENA)
    return options


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
