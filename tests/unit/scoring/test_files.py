"""The host's disk cache of models (``omlsvc.scoring.files``): fetched once per host, and every session
built from a private pin of the files, so that an operator removing the cache never fails a load."""

from __future__ import annotations

import functools
import hashlib
import random
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from omlsvc.core.errors import ScoringFailed
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.repository.archive import ArchiveLimits, extract_package
from omlsvc.repository.validation import validate_package
from omlsvc.scoring.files import MANIFEST, ModelFiles
from omlsvc.scoring.session_options import make_session_options
from omlsvc.scoring.sessions import SessionCache
from tests import modelzoo

UNPACK = functools.partial(extract_package, limits=ArchiveLimits())


@dataclass
class Stored:
    """A model as the database holds it: its zip, read in small chunks, counting the fetches."""

    data: bytes
    spec: ScoringSpec
    sample: list[list[float]]
    fetches: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def chunks(self) -> Iterator[bytes]:
        self.fetches += 1
        for start in range(0, len(self.data), 512):
            yield self.data[start : start + 512]


def stored(zoo: modelzoo.ZooModel, work: Path) -> Stored:
    spec = validate_package(zoo.zip_path, ModelType.ONNX, ArchiveLimits(), work).spec
    return Stored(zoo.zip_path.read_bytes(), spec, zoo.sample["float_input"][:1].tolist())


@pytest.fixture
def regressor(tmp_path: Path) -> Stored:
    return stored(modelzoo.make_regressor_zip(tmp_path), tmp_path / "work")


@pytest.fixture
def external(tmp_path: Path) -> Stored:
    return stored(modelzoo.make_external_data_zip(tmp_path), tmp_path / "work")


def worker_files(data_dir: Path) -> ModelFiles:
    """What one worker of the host has: the shared cache, its pins outside it."""
    return ModelFiles(data_dir / "cache", data_dir / "tmp", UNPACK)


def load(files: ModelFiles, model: Stored) -> float:
    """Build a fresh session from the model's pinned files and score its sample row."""
    sessions = SessionCache(1, None, lambda: make_session_options(1), ["CPUExecutionProvider"])
    loaded = sessions.get(model.sha256, model.spec, files=lambda: files.pinned(model.sha256, model.chunks))
    [result] = loaded.model.score_records([{"float_input": model.sample}])
    return float(result["regression"])


def test_a_model_is_fetched_once_per_host_and_pinned_from_the_cache_afterwards(
    tmp_path: Path, regressor: Stored
) -> None:
    first, second = worker_files(tmp_path), worker_files(tmp_path)

    score = load(first, regressor)

    assert regressor.fetches == 1 and first.cached(regressor.sha256)
    assert load(second, regressor) == score
    assert regressor.fetches == 1
    assert list((tmp_path / "tmp").iterdir()) == []  # pins last as long as a load


def test_a_pin_keeps_the_files_while_the_cache_is_removed(tmp_path: Path, external: Stored) -> None:
    files = worker_files(tmp_path)
    load(files, external)

    with files.pinned(external.sha256, external.chunks) as onnx_path:
        shutil.rmtree(tmp_path / "cache")
        assert sorted(p.name for p in onnx_path.parent.iterdir()) == ["external.onnx", "weights.bin"]
        sessions = SessionCache(1, lambda sha: onnx_path, make_session_options, ["CPUExecutionProvider"])
        model = sessions.get(external.sha256, external.spec).model

    assert model.score_records([{"float_input": external.sample}])[0]["regression"] == pytest.approx(
        load(files, external)
    )
    assert external.fetches == 2  # the removed cache was filled again


def test_a_cached_copy_that_lost_a_file_is_not_used(tmp_path: Path, external: Stored) -> None:
    """A removal caught halfway (weights gone, model and manifest still there) is a cache miss."""
    files = worker_files(tmp_path)
    expected = load(files, external)
    (tmp_path / "cache" / "models" / external.sha256 / "model" / "weights.bin").unlink()

    assert load(worker_files(tmp_path), external) == expected
    assert external.fetches == 2


def test_bytes_that_do_not_match_the_digest_are_refused_and_not_cached(
    tmp_path: Path, regressor: Stored
) -> None:
    files = worker_files(tmp_path)
    changed = Stored(regressor.data[:-1] + bytes([regressor.data[-1] ^ 1]), regressor.spec, regressor.sample)

    with (
        pytest.raises(ScoringFailed, match="incomplete or changed"),
        files.pinned(regressor.sha256, changed.chunks),
    ):
        pass

    assert not files.cached(regressor.sha256)


def test_a_folder_left_by_an_older_cache_layout_is_replaced(tmp_path: Path, regressor: Stored) -> None:
    old = tmp_path / "cache" / "models" / regressor.sha256
    (old / "model").mkdir(parents=True)
    (old / "model-path").write_text("model/regressor.onnx")

    files = worker_files(tmp_path)
    load(files, regressor)
    load(files, regressor)

    assert regressor.fetches == 1
    assert (old / MANIFEST).read_text().splitlines() == ["model/regressor.onnx"]


def test_the_cache_removed_again_and_again_never_fails_a_load(tmp_path: Path, regressor: Stored) -> None:
    """Two workers load sessions over and over while an operator removes the cache folder in a loop,
    at any moment of a fetch, an unpack, a publication or a pin (the race behind a rare 500)."""
    workers = [worker_files(tmp_path), worker_files(tmp_path)]
    stop = threading.Event()
    loads, removals, failures = [0], [0], []

    def loading(files: ModelFiles) -> None:
        while not stop.is_set():
            try:
                load(files, regressor)
                loads[0] += 1
            except Exception as exc:  # every failure is the defect this test is about
                failures.append(repr(exc))

    def removing() -> None:
        while not stop.is_set():
            shutil.rmtree(tmp_path / "cache", ignore_errors=True)
            removals[0] += 1
            time.sleep(random.uniform(0, 0.01))

    threads = [threading.Thread(target=loading, args=(workers[n % 2],)) for n in range(4)]
    threads.append(threading.Thread(target=removing))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60  # about 2 s on an idle machine; a busy one needs longer
    while time.monotonic() < deadline and not (
        loads[0] >= 40 and removals[0] > 10 and regressor.fetches >= 10
    ):
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()

    assert failures == []
    assert loads[0] >= 40 and removals[0] > 10
    assert regressor.fetches >= 10  # the removals did hit the cache: it was filled again and again
