"""Provider choice, GPU detection and session options."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import onnxruntime as ort

from omlsvc.scoring.session_options import (
    choose_providers,
    default_intra_op_threads,
    detect_gpu_count,
    make_session_options,
)


def test_cuda_is_chosen_round_robin_when_offered_and_present() -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(available, 0, 2) == [
        ("CUDAExecutionProvider", {"device_id": 0}),
        "CPUExecutionProvider",
    ]
    assert choose_providers(available, 3, 2) == [
        ("CUDAExecutionProvider", {"device_id": 1}),
        "CPUExecutionProvider",
    ]
    assert choose_providers(available, 5, 1) == [
        ("CUDAExecutionProvider", {"device_id": 0}),
        "CPUExecutionProvider",
    ]


def test_cpu_without_cuda_provider_or_without_gpus() -> None:
    assert choose_providers(["CPUExecutionProvider"], 0, 4) == ["CPUExecutionProvider"]
    assert choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], 1, 0) == [
        "CPUExecutionProvider"
    ]
    assert choose_providers(ort.get_available_providers(), 0, 0) == ["CPUExecutionProvider"]


def fake_gpus(folder: Path, count: int) -> Path:
    for index in range(count):
        (folder / f"0000:0{index}:00.0").mkdir(parents=True)
    return folder


def fake_nvidia_smi(folder: Path, output: str, status: int = 0) -> str:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {status}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_gpu_count_from_the_driver(tmp_path: Path) -> None:
    proc = fake_gpus(tmp_path / "gpus", 4)
    assert detect_gpu_count({}, proc_dir=proc, nvidia_smi=None) == 4
    assert detect_gpu_count({"CUDA_VISIBLE_DEVICES": "2,3"}, proc_dir=proc, nvidia_smi=None) == 2
    assert detect_gpu_count({"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5"}, proc_dir=proc, nvidia_smi=None) == 4
    assert detect_gpu_count({"CUDA_VISIBLE_DEVICES": ""}, proc_dir=proc, nvidia_smi=None) == 0
    assert detect_gpu_count({"CUDA_VISIBLE_DEVICES": "-1"}, proc_dir=proc, nvidia_smi=None) == 0
    assert detect_gpu_count({"CUDA_VISIBLE_DEVICES": "0,-1,1"}, proc_dir=proc, nvidia_smi=None) == 1


def test_gpu_count_from_nvidia_smi(tmp_path: Path) -> None:
    listing = (
        "GPU 0: NVIDIA H100 (UUID: GPU-aaaa)\n"
        "  MIG 1g.10gb     Device  0: (UUID: MIG-bbbb)\n"
        "GPU 1: NVIDIA H100 (UUID: GPU-cccc)"
    )
    tool = fake_nvidia_smi(tmp_path, listing)
    assert detect_gpu_count({}, proc_dir=tmp_path / "absent", nvidia_smi=tool) == 2
    failing = fake_nvidia_smi(tmp_path, "NVIDIA-SMI has failed", status=9)
    assert detect_gpu_count({}, proc_dir=tmp_path / "absent", nvidia_smi=failing) == 0


def test_gpu_count_is_zero_and_quick_without_a_driver(tmp_path: Path) -> None:
    started = time.perf_counter()
    assert detect_gpu_count({}, proc_dir=tmp_path / "absent", nvidia_smi=None) == 0
    assert detect_gpu_count({}, proc_dir=tmp_path / "absent", nvidia_smi=str(tmp_path / "missing-tool")) == 0
    assert time.perf_counter() - started < 1.0


def test_this_machine_is_detected_quickly() -> None:
    started = time.perf_counter()
    count = detect_gpu_count()
    assert count >= 0
    assert time.perf_counter() - started < 6.0


def test_intra_op_threads_share_the_cores() -> None:
    assert default_intra_op_threads(3, cores=8) == 2
    assert default_intra_op_threads(4, cores=2) == 1
    assert default_intra_op_threads(1, cores=16) == 16
    assert default_intra_op_threads(0, cores=4) == 4
    assert default_intra_op_threads(1) == len(os.sched_getaffinity(0))


def test_session_options() -> None:
    options = make_session_options(3)
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert make_session_options(workers=10_000).intra_op_num_threads == 1
