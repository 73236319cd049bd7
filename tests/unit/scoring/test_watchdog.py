"""Every model run ends: the worker's one watchdog thread stops runs at their deadline."""

from __future__ import annotations

import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from omlsvc.core.errors import MemoryLimitExceeded, ScoringTimeout
from omlsvc.core.signature import Function, ModelType, ScoringSpec, TensorInfo, ValueKind
from omlsvc.scoring.scorer import PreparedModel, RunLimits
from omlsvc.scoring.session_options import make_session_options
from omlsvc.scoring.sessions import SessionCache
from omlsvc.scoring.watchdog import RunWatchdog
from tests.robustness import hostile

NEVER_ENDS = np.array([[1e12]], dtype=np.float32)
AT_ONCE = np.array([[3.0]], dtype=np.float32)


def _session(zip_path: Path) -> ort.InferenceSession:
    with zipfile.ZipFile(zip_path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".onnx"))
        return ort.InferenceSession(
            archive.read(name), make_session_options(1), providers=["CPUExecutionProvider"]
        )


def _spec() -> ScoringSpec:
    return ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.REGRESSION,
        inputs=(TensorInfo("x", ValueKind.TENSOR, "FLOAT", (-1, 1)),),
        outputs=(TensorInfo("variable", ValueKind.TENSOR, "FLOAT", (-1, 1)),),
        output="variable",
    )


def _watchdog_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "omlsvc-run-watchdog")


def test_a_run_past_its_deadline_is_ended_and_its_session_scores_again(tmp_path: Path) -> None:
    session = _session(hostile.looping_regressor_zip(tmp_path))
    watchdog = RunWatchdog()
    started = time.monotonic()
    with pytest.raises(ScoringTimeout, match=r"time limit of 0\.5 s"):
        watchdog.run(0.5, lambda options: session.run(None, {"x": NEVER_ENDS}, options))
    assert 0.5 <= time.monotonic() - started < 3
    result = watchdog.run(5, lambda options: session.run(None, {"x": AT_ONCE}, options))
    assert result[0].tolist() == [[3.0]]


def test_one_thread_watches_every_run_and_ends_only_the_late_ones(tmp_path: Path) -> None:
    session = _session(hostile.looping_regressor_zip(tmp_path))
    watchdog = RunWatchdog()
    outcomes: dict[str, object] = {}

    def score(name: str, value: np.ndarray, timeout_s: float) -> None:
        try:
            outcomes[name] = watchdog.run(timeout_s, lambda o: session.run(None, {"x": value}, o))[0].tolist()
        except ScoringTimeout as exc:
            outcomes[name] = exc.code

    before = _watchdog_threads()
    runs = [threading.Thread(target=score, args=(f"hang{i}", NEVER_ENDS, 0.3 + 0.2 * i)) for i in range(3)]
    runs += [threading.Thread(target=score, args=(f"quick{i}", AT_ONCE, 10)) for i in range(3)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=10)
    assert outcomes == {
        **{f"hang{i}": "SCORING_TIMEOUT" for i in range(3)},
        **{f"quick{i}": [[3.0]] for i in range(3)},
    }
    assert _watchdog_threads() - before <= 1
    assert watchdog.pending() == 0


def test_runs_that_end_in_time_leave_the_watchdog_thread_asleep(tmp_path: Path) -> None:
    """Issue 20: the thread is woken only for a deadline earlier than its next look at the heap. It
    used to be woken by nearly every run once it had emptied its heap (a thread handoff per request);
    now a stream of quick runs, even with pauses the thread could use to tidy up, barely wakes it."""
    session = _session(hostile.looping_regressor_zip(tmp_path))
    watchdog = RunWatchdog()
    others = _watchdog_thread_ids()
    watchdog.run(5, lambda options: session.run(None, {"x": AT_ONCE}, options))
    time.sleep(0.05)  # the thread has started and looked at its heap
    (watchdog_thread,) = _watchdog_thread_ids() - others
    before = _switches_of(watchdog_thread)
    for _ in range(200):
        watchdog.run(5, lambda options: None)  # ends before the thread could even look
        time.sleep(0.002)
    assert _switches_of(watchdog_thread) - before < 20
    with pytest.raises(ScoringTimeout):  # and a late run is still ended on time
        watchdog.run(0.3, lambda options: session.run(None, {"x": NEVER_ENDS}, options))


def _watchdog_thread_ids() -> set[int]:
    return {
        thread.native_id
        for thread in threading.enumerate()
        if thread.name == "omlsvc-run-watchdog" and thread.native_id is not None
    }


def _switches_of(native_id: int) -> int:
    """Times the thread has given up the CPU by waiting (Linux: ``voluntary_ctxt_switches``)."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


def test_a_prepared_model_answers_scoring_timeout_within_its_deployments_limit(tmp_path: Path) -> None:
    model = PreparedModel(
        _spec(),
        _session(hostile.looping_regressor_zip(tmp_path)),
        run_limits=RunLimits(timeout_s=30),
        watchdog=RunWatchdog(),
    )
    started = time.monotonic()
    with pytest.raises(ScoringTimeout):
        model.score_records([{"x": [[1e12]]}], timeout_s=0.4)
    assert time.monotonic() - started < 3
    assert model.score_records([{"x": [[2.0]]}]) == [{"regression": 2.0}]


def test_a_run_that_needs_more_memory_than_a_worker_allows_is_refused(tmp_path: Path) -> None:
    """ConstantOfShape([100000, 100000]) asks for 40 GB at once: the bounded arena refuses it (whatever
    limit this test process registered first, it is below that) and the session still serves."""
    zip_path = hostile.allocating_regressor_zip(tmp_path)
    cache = SessionCache(
        2,
        lambda sha: _extracted(zip_path, tmp_path),
        lambda: make_session_options(1),
        ["CPUExecutionProvider"],
        run_limits=RunLimits(memory_bytes=1 << 30),
    )
    model = cache.get("a" * 64, _spec()).model
    with pytest.raises(MemoryLimitExceeded, match="OMLSVC_MAX_SCORING_MEMORY"):
        model.score_records([{"x": [[100_000.0]]}])
    assert model.score_records([{"x": [[100.0]]}]) == [{"regression": 100.0}]


def _extracted(zip_path: Path, directory: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".onnx"))
        archive.extract(name, directory)
    return directory / name


def test_run_options_are_reused_but_never_those_of_a_terminated_run(tmp_path: Path) -> None:
    """Issue 20: making RunOptions per run cost more than a small model's run; finished runs give
    theirs back, except a run the watchdog ended, whose options stay terminated."""
    session = _session(hostile.looping_regressor_zip(tmp_path))
    watchdog = RunWatchdog()
    seen: list[object] = []

    def run(options: object) -> object:
        seen.append(options)
        return session.run(None, {"x": AT_ONCE}, options)  # type: ignore[arg-type]

    watchdog.run(5, run)
    watchdog.run(5, run)
    assert seen[0] is seen[1]

    ended: list[object] = []
    with pytest.raises(ScoringTimeout):
        watchdog.run(
            0.3, lambda options: ended.append(options) or session.run(None, {"x": NEVER_ENDS}, options)
        )
    watchdog.run(5, run)
    assert seen[-1] is not ended[0]
    assert not seen[-1].terminate  # type: ignore[attr-defined]
