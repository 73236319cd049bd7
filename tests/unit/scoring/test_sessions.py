"""The per-worker LRU of sessions."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from omlsvc.core.errors import NotFound, ScoringFailed
from omlsvc.core.signature import Function, LabelSource
from omlsvc.scoring.session_options import make_session_options
from omlsvc.scoring.sessions import SessionCache
from tests.unit.scoring.builders import BuiltModel


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
