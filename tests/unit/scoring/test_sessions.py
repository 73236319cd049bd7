"""Provider choice, GPU detection, session options and the per-worker LRU of sessions."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import pytest

from omlsvc.core.errors import NotFound, ScoringFailed
from omlsvc.core.signature import Function, LabelSource
from omlsvc.scoring.sessions import (
    SessionCache,
    choose_providers,
    default_intra_op_threads,
    detect_gpu_count,
    make_session_options,
)
from tests.unit.scoring.builders import BuiltModel

# -- providers and options -----------------------------------------------------------------------


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


# -- the cache -----------------------------------------------------------------------------------


class CountingLoader:
    """A loader over a dict sha256 -> model file that counts calls and can be slowed down."""

    def __init__(self, models: dict[str, BuiltModel], delay: float = 0.0) -> None:
        self.models = models
        self.delay = delay
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, sha256: str) -> Path:
        with self._lock:
            self.calls.append(sha256)
        if self.delay:
            time.sleep(self.delay)
        if sha256 not in self.models:
            raise NotFound(f"model {sha256} not found")
        return self.models[sha256].path


def make_cache(loader: Callable[[str], Path], capacity: int = 2, *, warm_up: bool = False) -> SessionCache:
    return SessionCache(
        capacity, loader, lambda: make_session_options(1), ["CPUExecutionProvider"], warm_up=warm_up
    )


@pytest.fixture
def models(regressor: BuiltModel, gmm: BuiltModel, static_classifier: BuiltModel) -> dict[str, BuiltModel]:
    return {"a" * 64: regressor, "b" * 64: gmm, "c" * 64: static_classifier}


def test_get_builds_once_and_scores(models: dict[str, BuiltModel]) -> None:
    loader = CountingLoader(models)
    cache = make_cache(loader)
    key = "a" * 64

    loaded = cache.get(key, models[key].spec)

    assert cache.get(key, models[key].spec) is loaded
    assert loader.calls == [key]
    assert loaded.providers == ("CPUExecutionProvider",)
    assert loaded.sha256 == key
    assert loaded.model.score_records([{"X": [[0, 0, 0]]}])[0]["regression"] == pytest.approx(3.0, abs=1e-4)


def test_least_recently_used_is_evicted(models: dict[str, BuiltModel]) -> None:
    loader = CountingLoader(models)
    cache = make_cache(loader, capacity=2)
    a, b, c = "a" * 64, "b" * 64, "c" * 64

    first = cache.get(a, models[a].spec)
    cache.get(b, models[b].spec)
    cache.get(a, models[a].spec)  # a is now the most recently used
    cache.get(c, models[c].spec)  # evicts b

    assert cache.keys() == [a, c]
    assert b not in cache and len(cache) == 2
    assert cache.get(a, models[a].spec) is first
    cache.get(b, models[b].spec)  # built again
    assert loader.calls == [a, b, c, b]
    assert cache.keys() == [a, b]
    assert cache.peek(c) is None
    assert cache.evict(a) and not cache.evict(a)
    cache.clear()
    assert len(cache) == 0


def test_concurrent_gets_build_once(models: dict[str, BuiltModel]) -> None:
    loader = CountingLoader(models, delay=0.2)
    cache = make_cache(loader)
    key = "b" * 64
    results = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(cache.get(key, models[key].spec))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert loader.calls == [key]
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_different_keys_build_in_parallel(models: dict[str, BuiltModel]) -> None:
    loader = CountingLoader(models, delay=0.3)
    cache = make_cache(loader, capacity=3)
    started = time.perf_counter()
    threads = [threading.Thread(target=cache.get, args=(k, m.spec)) for k, m in models.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 3
    assert time.perf_counter() - started < 0.8


def test_loader_errors_pass_through_and_are_not_cached(models: dict[str, BuiltModel]) -> None:
    loader = CountingLoader(models)
    cache = make_cache(loader)
    with pytest.raises(NotFound):
        cache.get("d" * 64, models["a" * 64].spec)
    with pytest.raises(NotFound):
        cache.get("d" * 64, models["a" * 64].spec)
    assert loader.calls == ["d" * 64, "d" * 64]
    assert len(cache) == 0


def test_unloadable_model_is_a_scoring_failure_without_paths(tmp_path: Path, regressor: BuiltModel) -> None:
    broken = tmp_path / "private-cache" / "model.onnx"
    broken.parent.mkdir()
    broken.write_bytes(b"this is not an onnx model")
    cache = make_cache(lambda sha256: broken)

    with pytest.raises(ScoringFailed) as caught:
        cache.get("e" * 64, regressor.spec)

    assert caught.value.message.startswith("model eeeeeeeeeeee could not be loaded")
    assert str(tmp_path) not in caught.value.message
    assert "private-cache" not in caught.value.message


def test_warm_up_runs_a_dummy_row(
    models: dict[str, BuiltModel],
    multi_input: BuiltModel,
    image_nhwc: BuiltModel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = {**models, "m" * 64: multi_input, "i" * 64: image_nhwc}
    cache = make_cache(CountingLoader(models), capacity=5, warm_up=True)
    with caplog.at_level(logging.DEBUG, logger="omlsvc.scoring.sessions"):
        for key in ("a" * 64, "m" * 64, "i" * 64):
            cache.get(key, models[key].spec)
        cache.get("b" * 64, models["b" * 64].spec, warm_up=False)
    assert [r.getMessage() for r in caplog.records] == [
        "warmed up model aaaaaaaaaaaa",
        "warmed up model mmmmmmmmmmmm",
        "warmed up model iiiiiiiiiiii",
    ]


def test_failed_warm_up_is_logged_not_fatal(regressor: BuiltModel, caplog: pytest.LogCaptureFixture) -> None:
    # labels that do not fit the output: formatting the dummy row fails
    wrong = dataclasses.replace(
        regressor.spec, function=Function.CLASSIFICATION, label_source=LabelSource.STATIC, labels=("x", "y")
    )
    cache = make_cache(lambda sha256: regressor.path)

    with caplog.at_level(logging.WARNING, logger="omlsvc.scoring.sessions"):
        loaded = cache.get("f" * 64, wrong, warm_up=True)

    assert loaded is cache.get("f" * 64, wrong)
    assert "warm-up of model ffffffffffff failed" in caplog.text
    assert "1 classes but 2 labels" in caplog.text
