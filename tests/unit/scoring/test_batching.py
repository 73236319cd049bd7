"""Dynamic batching (issue 20): concurrent requests merged into one run answer exactly what they
would have answered alone, a failing row fails only its own request, and a full batch does not wait.

Real models and sessions (tests/unit/scoring/builders.py); where a failure must come from one row of
a merged run, a hand-written run function stands in for the model (onnxruntime has no row that fails
alone)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from omlsvc.core.batching import BatchingOptions
from omlsvc.core.errors import InvalidInput, ScoringFailed
from omlsvc.scoring.batching import ModelBatching, RequestBatcher, batchable, merge, split
from omlsvc.scoring.feeds import Feeds
from omlsvc.scoring.scorer import PreparedModel
from tests.unit.scoring.builders import BuiltModel, encode, gradient_image, iris

THREADS = 16


class BatchLog:
    """What the batcher reported: (rows, requests) of every merged run."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, rows: int, requests: int) -> None:
        with self._lock:
            self.batches.append((rows, requests))


def concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` on ``count`` threads released together; results (or exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def one(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def score_concurrently(model: BuiltModel, top_n: int) -> tuple[list[Any], list[Any], BatchLog]:
    """(answers of 16 requests of 1-3 rows each scored alone, the same scored at once through a
    batcher, what the batcher merged)."""
    prepared = PreparedModel(model.spec, model.session())
    assert prepared.batchable
    (name,) = prepared.inputs.input_names
    width = model.spec.inputs[0].shape[1]  # type: ignore[index]
    rows = np.random.default_rng(7).normal(size=(THREADS * 3, width)) + iris()[0][:, :width].mean(0)
    records = [[{name: rows[3 * i : 3 * i + 1 + i % 3].tolist()}] for i in range(THREADS)]
    alone = [prepared.score_records(r, top_n) for r in records]
    log = BatchLog()
    batching = ModelBatching(prepared.run_for_batch, BatchingOptions(64, 200.0), log)
    merged = concurrently(THREADS, lambda i: prepared.score_records(records[i], top_n, run=batching.run))
    assert any(requests > 1 for _, requests in log.batches), "no request was merged"
    return alone, merged, log


@pytest.mark.parametrize("fixture", ["gmm", "kmeans"])
def test_batched_answers_equal_unbatched_ones_exactly(fixture: str, request: pytest.FixtureRequest) -> None:
    alone, merged, _ = score_concurrently(request.getfixturevalue(fixture), 2)
    assert merged == alone


def flatten(answer: Any) -> tuple[list[Any], list[float]]:
    """(every label and key of an answer, in order; every number of it, in order)."""
    labels: list[Any] = []
    numbers: list[float] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                labels.append(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, float):
            numbers.append(value)
        else:
            labels.append(value)

    walk(answer)
    return labels, numbers


@pytest.mark.parametrize("fixture", ["zipmap_str", "static_classifier", "regressor"])
def test_batched_answers_of_matrix_products_equal_unbatched_ones_to_float32_rounding(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    """onnxruntime multiplies a 1-row matrix with another kernel than a many-row one, so a linear
    model's float32 outputs for the same row differ in the last bit or two between a 1-row run and
    any larger one (unbatched too: the same row sent alone or with others). The labels and their
    order are the same; the numbers agree to float32 rounding: within 4 units in the last place on AMD
    EPYC (AVX2 kernels), 8 on an Intel Xeon with AVX-512, whose kernels sum in another order."""
    alone, merged, _ = score_concurrently(request.getfixturevalue(fixture), 2)
    for one, other in zip(alone, merged, strict=True):
        labels, numbers = flatten(one)
        merged_labels, merged_numbers = flatten(other)
        assert merged_labels == labels
        np.testing.assert_allclose(merged_numbers, numbers, rtol=16 * np.finfo(np.float32).eps, atol=1e-7)


def test_batched_images_equal_unbatched_ones_exactly(image_nchw: BuiltModel) -> None:
    prepared = PreparedModel(image_nchw.spec, image_nchw.session())
    images = [encode(gradient_image(40 + i, 30 + 2 * i, seed=i), "PNG") for i in range(8)]
    alone = [prepared.score_images([image], None) for image in images]
    as_records = [prepared.score_records([{"image": base64.b64encode(image).decode()}]) for image in images]
    log = BatchLog()
    batching = ModelBatching(prepared.run_for_batch, BatchingOptions(8, 200.0), log)

    uploads = concurrently(8, lambda i: prepared.score_images([images[i]], None, run=batching.run))
    records = concurrently(
        8,
        lambda i: prepared.score_records([{"image": base64.b64encode(images[i]).decode()}], run=batching.run),
    )

    assert uploads == alone
    assert records == as_records
    assert any(requests > 1 for _, requests in log.batches)


def test_a_request_with_a_bad_value_fails_alone(gmm: BuiltModel) -> None:
    prepared = PreparedModel(gmm.spec, gmm.session())
    batching = ModelBatching(prepared.run_for_batch, BatchingOptions(64, 200.0))
    good = [{"X": [[5.1, 3.5, 1.4, 0.2]]}]
    bad = [{"X": [["not a number", 3.5, 1.4, 0.2]]}]

    results = concurrently(8, lambda i: prepared.score_records(bad if i == 3 else good, run=batching.run))

    assert isinstance(results[3], InvalidInput)
    assert all(results[i] == prepared.score_records(good) for i in range(8) if i != 3)


def fake_run(calls: list[int]) -> Callable[[Feeds, float | None], dict[str, Any]]:
    """Doubles ``x``; refuses any batch holding a negative value (as a model refusing one row)."""

    def run(feeds: Feeds, timeout_s: float | None) -> dict[str, Any]:
        calls.append(feeds.rows)
        x = feeds.arrays["x"]
        if (x < 0).any():
            raise ScoringFailed("the model refused a value")
        return {"y": x * 2}

    return run


def feeds(*values: float) -> Feeds:
    return Feeds({"x": np.array([[v] for v in values], np.float32)}, len(values), (len(values),))


def test_a_failing_merged_run_falls_back_to_one_run_per_request() -> None:
    calls: list[int] = []
    log = BatchLog()
    batcher = RequestBatcher(fake_run(calls), BatchingOptions(8, 500.0), log)

    results = concurrently(4, lambda i: batcher.run(feeds(-1.0 if i == 2 else float(i)), None))

    assert isinstance(results[2], ScoringFailed)
    for i in (0, 1, 3):
        assert results[i]["y"].tolist() == [[2.0 * i]]
    assert log.batches == [(4, 4)]
    assert sorted(calls) == [1, 1, 1, 1, 4]  # the merged run, then each request alone


def test_a_full_batch_runs_without_waiting_for_the_delay() -> None:
    calls: list[int] = []
    batcher = RequestBatcher(fake_run(calls), BatchingOptions(4, 100_000.0))
    started = time.monotonic()

    results = concurrently(4, lambda i: batcher.run(feeds(float(i)), None))

    assert time.monotonic() - started < 30  # far below the 100 s delay: the fourth request filled it
    assert [r["y"].tolist() for r in results] == [[[0.0]], [[2.0]], [[4.0]], [[6.0]]]
    assert calls == [4]


def test_a_batch_holding_every_request_thread_of_the_worker_runs_without_waiting_for_the_delay() -> None:
    """With 3 request threads all queued, no fourth request can come: waiting out the delay is idle."""
    calls: list[int] = []
    batcher = RequestBatcher(fake_run(calls), BatchingOptions(32, 100_000.0), request_threads=3)
    started = time.monotonic()

    results = concurrently(3, lambda i: batcher.run(feeds(float(i)), None))

    assert time.monotonic() - started < 30  # far below the 100 s delay
    assert [r["y"].tolist() for r in results] == [[[0.0]], [[2.0]], [[4.0]]]
    assert calls == [3]


def test_fewer_queued_requests_than_request_threads_wait_out_the_delay() -> None:
    calls: list[int] = []
    batcher = RequestBatcher(fake_run(calls), BatchingOptions(32, 300.0), request_threads=4)
    started = time.monotonic()

    results = concurrently(3, lambda i: batcher.run(feeds(float(i)), None))

    assert time.monotonic() - started >= 0.3  # a fourth thread could still have come
    assert [r["y"].tolist() for r in results] == [[[0.0]], [[2.0]], [[4.0]]]
    assert calls == [3]


def test_a_request_of_a_full_batch_runs_alone_and_leftovers_lead_the_next() -> None:
    calls: list[int] = []
    batcher = RequestBatcher(fake_run(calls), BatchingOptions(3, 50.0))
    big = batcher.run(feeds(1.0, 2.0, 3.0), None)
    assert big["y"].tolist() == [[2.0], [4.0], [6.0]] and calls == [3]

    results = concurrently(5, lambda i: batcher.run(feeds(float(i)), None))

    assert [r["y"].tolist() for r in results] == [[[2.0 * i]] for i in range(5)]
    assert sum(calls[1:]) == 5 and max(calls[1:]) <= 3


def test_split_refuses_outputs_that_are_not_batch_major() -> None:
    merged = merge([feeds(1.0), feeds(2.0, 3.0)])
    assert merged.rows == 3 and merged.row_counts == (1, 2)
    parts = split({"y": np.arange(3), "maps": [{"a": 1}, {"a": 2}, {"a": 3}]}, [1, 2])
    assert parts is not None
    assert parts[1]["y"].tolist() == [1, 2] and parts[1]["maps"] == [{"a": 2}, {"a": 3}]
    assert split({"labels": np.array(["a", "b"])}, [1, 2]) is None


def test_models_whose_outputs_cannot_be_split_by_rows_are_not_batched(
    model_dir: Any, label_output: BuiltModel
) -> None:
    from tests.unit.scoring.builders import make_image_classifier

    fixed = make_image_classifier(model_dir, batch=1)  # the graph fixes the batch size
    assert not PreparedModel(fixed.spec, fixed.session()).batchable
    # one label list for the whole batch ([nClasses]), not one per row
    assert not PreparedModel(label_output.spec, label_output.session()).batchable


def test_an_image_model_whose_batch_axis_is_not_first_is_not_batched(image_nchw: BuiltModel) -> None:
    """Requests are stacked on the first axis, which must then be the batch axis."""
    import dataclasses

    assert image_nchw.spec.image is not None
    image = dataclasses.replace(image_nchw.spec.image, dim_names=("channel", "batch", "height", "width"))
    spec = dataclasses.replace(image_nchw.spec, image=image)
    assert batchable(spec, ("probs",), None) is False
    assert batchable(image_nchw.spec, ("probs",), None) is True
