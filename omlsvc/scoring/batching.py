"""Dynamic batching (issue 20): concurrent score requests for one model of one deployment, inside one
worker, merged into one ``session.run`` and split back.

Each request converts its own input on its own thread (so decoding images stays parallel and a bad
value fails only the request that sent it), then hands its feeds to the model's batcher. The first
request to arrive leads: it waits until the batch holds ``max_size`` rows or until ``max_delay_ms``
after its own arrival, whichever comes first (or until every request thread of the worker waits in
its queue: then no other request can arrive to join), takes the requests queued (oldest first, at most
``max_size`` rows), runs them as one batch and hands each its slice of the outputs; each request
then formats its own answer (its own ``topN``, its own answer limit). Requests left over lead the
next batch at once, their own delay counted from their arrival: no request waits longer than the
delay before its run starts.

A merged run that fails (a row the model refuses, memory, a time limit) is not trusted to say whose
row it was: every request of the batch then runs alone, on its own thread, so a failing row fails
only its own request and the others get exactly the answer they would have got unbatched.

Only models whose every output read is batch-major (a dynamic first axis, or ZipMap's one map per
row), whose inputs have the batch axis first and whose graph does not fix the batch size are merged; requests whose arrays cannot be stacked
(another trailing shape or type) go to separate batchers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omlsvc.core.batching import BatchingOptions
from omlsvc.core.signature import ScoringSpec, ValueKind
from omlsvc.scoring.feeds import Feeds

#: ``PreparedModel.run`` as a batcher calls it: (feeds, time limit or None) -> outputs by name.
Run = Callable[[Feeds, "float | None"], dict[str, Any]]
#: Told the rows and the requests of every merged run.
BatchObserver = Callable[[int, int], None]

#: Input signatures (trailing shapes and types) one model keeps a batcher for; others run alone.
MAX_SIGNATURES = 16
#: (deployment, model, options) a worker keeps batchers for, least recently used dropped.
MAX_MODELS = 256


def batchable(spec: ScoringSpec, output_names: Sequence[str], fixed_batch_size: int | None) -> bool:
    """Whether the outputs ``output_names`` of this model can be split back by rows."""
    if fixed_batch_size is not None:
        return False
    if spec.image is not None and spec.image.dim_names and spec.image.dim_names[0] != "batch":
        return False  # requests are stacked on the first axis: it must be the batch axis
    infos = {info.name: info for info in spec.outputs}
    for name in output_names:
        info = infos.get(name)
        if info is None:
            return False
        if info.kind is ValueKind.SEQUENCE_OF_MAPS:
            continue
        if not info.shape or info.shape[0] != -1:
            return False
    return True


@dataclass(eq=False)
class _Waiter:
    feeds: Feeds
    timeout_s: float | None
    arrived: float
    woken: threading.Event = field(default_factory=threading.Event)
    outputs: dict[str, Any] | None = None
    error: Exception | None = None
    #: woken to lead the next batch.
    lead: bool = False
    #: woken to run its own feeds: the merged run failed or could not be split.
    alone: bool = False


class RequestBatcher:
    """Merges requests whose arrays stack (one model, one input signature). Thread-safe.

    ``request_threads`` is how many threads of this worker take requests (gunicorn's ``threads``):
    once that many wait in the queue no other can come, and the leader runs at once instead of
    idling out the delay. None: unknown, the delay is always waited out (a larger number than the
    truth only makes the leader wait longer, a smaller one only makes a batch smaller).
    """

    def __init__(
        self,
        run: Run,
        options: BatchingOptions,
        observe: BatchObserver | None = None,
        request_threads: int | None = None,
    ) -> None:
        self._run = run
        self._max_rows = options.max_size
        self._all_threads = request_threads or 0
        self._delay_s = options.max_delay_ms / 1000.0
        self._observe = observe or (lambda rows, requests: None)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: list[_Waiter] = []
        self._queued_rows = 0
        #: a leader is gathering (or about to): new arrivals queue behind it.
        self._gathering = False

    def run(self, feeds: Feeds, timeout_s: float | None) -> dict[str, Any]:
        """The outputs of ``feeds`` alone, computed in a merged run when others came meanwhile."""
        if feeds.rows >= self._max_rows:
            return self._run(feeds, timeout_s)
        waiter = _Waiter(feeds, timeout_s, time.monotonic())
        with self._lock:
            self._queue.append(waiter)
            self._queued_rows += feeds.rows
            lead = not self._gathering
            if lead:
                self._gathering = True
            elif self._full():
                self._arrived.notify()
        if not lead:
            waiter.woken.wait()
            lead = waiter.lead
            if waiter.alone:
                return self._run(feeds, timeout_s)
        if lead:
            self._lead(waiter)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.outputs is not None
        return waiter.outputs

    def _full(self) -> bool:
        """Whether the leader need wait no longer: the queue holds a full batch, or every request
        thread of the worker (so no request could come to join). Called holding the lock."""
        return self._queued_rows >= self._max_rows or 0 < self._all_threads <= len(self._queue)

    def _lead(self, leader: _Waiter) -> None:
        deadline = leader.arrived + self._delay_s
        with self._lock:
            while not self._full():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            batch = [self._queue.pop(0)]
            rows = batch[0].feeds.rows
            while self._queue and rows + self._queue[0].feeds.rows <= self._max_rows:
                batch.append(self._queue.pop(0))
                rows += batch[-1].feeds.rows
            self._queued_rows -= rows
            if self._queue:
                following = self._queue[0]
                following.lead = True
                following.woken.set()
            else:
                self._gathering = False
        assert batch[0] is leader
        self._execute(batch, rows)

    def _execute(self, batch: list[_Waiter], rows: int) -> None:
        leader, followers = batch[0], batch[1:]
        parts: list[dict[str, Any]] | None = None
        try:
            if followers:
                self._observe(rows, len(batch))
                try:
                    merged = merge([w.feeds for w in batch])
                    parts = split(self._run(merged, leader.timeout_s), [w.feeds.rows for w in batch])
                except Exception:
                    parts = None  # whose row failed is unknown: every request runs alone
            if parts is not None:
                for waiter, part in zip(batch, parts, strict=True):
                    waiter.outputs = part
        finally:
            for waiter in followers:
                waiter.alone = parts is None
                waiter.woken.set()
        if parts is None:
            try:
                leader.outputs = self._run(leader.feeds, leader.timeout_s)
            except Exception as exc:
                leader.error = exc


def merge(parts: Sequence[Feeds]) -> Feeds:
    """The feeds of several requests as one batch, rows in request order."""
    names = parts[0].arrays.keys()
    arrays = {name: np.concatenate([part.arrays[name] for part in parts]) for name in names}
    counts = tuple(count for part in parts for count in part.row_counts)
    return Feeds(arrays, sum(part.rows for part in parts), counts)


def split(outputs: dict[str, Any], rows: Sequence[int]) -> list[dict[str, Any]] | None:
    """Each request's slice of a merged run's outputs; None when an output is not batch-major."""
    total = sum(rows)
    bounds = np.cumsum([0, *rows]).tolist()
    parts: list[dict[str, Any]] = [{} for _ in rows]
    for name, value in outputs.items():
        if isinstance(value, np.ndarray):
            if value.ndim == 0 or value.shape[0] != total:
                return None
        elif not isinstance(value, list) or len(value) != total:
            return None
        for index, part in enumerate(parts):
            part[name] = value[bounds[index] : bounds[index + 1]]
    return parts


def signature(feeds: Feeds) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """What must agree for two requests' arrays to stack: each input's type and trailing shape."""
    return tuple((name, array.dtype.str, array.shape[1:]) for name, array in feeds.arrays.items())


class ModelBatching:
    """The batchers of one model of one deployment, one per input signature."""

    def __init__(
        self,
        run: Run,
        options: BatchingOptions,
        observe: BatchObserver | None = None,
        request_threads: int | None = None,
    ) -> None:
        self.options = options
        self._run = run
        self._observe = observe
        self._request_threads = request_threads
        self._lock = threading.Lock()
        self._batchers: dict[tuple[Any, ...], RequestBatcher] = {}

    def run(self, feeds: Feeds, timeout_s: float | None) -> dict[str, Any]:
        key = signature(feeds)
        batcher = self._batchers.get(key)
        if batcher is None:
            with self._lock:
                batcher = self._batchers.get(key)
                if batcher is None:
                    if len(self._batchers) >= MAX_SIGNATURES:
                        return self._run(feeds, timeout_s)
                    batcher = RequestBatcher(self._run, self.options, self._observe, self._request_threads)
                    self._batchers[key] = batcher
        return batcher.run(feeds, timeout_s)


class Batchers:
    """A worker's :class:`ModelBatching` per (deployment, model, options), at most :data:`MAX_MODELS`.

    ``request_threads``: the worker's request threads (see :class:`RequestBatcher`), None if unknown.
    """

    def __init__(self, request_threads: int | None = None) -> None:
        self._request_threads = request_threads
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], tuple[object, ModelBatching]] = OrderedDict()

    def for_model(
        self, key: tuple[Any, ...], model: object, run: Run, options: BatchingOptions, observe: BatchObserver
    ) -> ModelBatching:
        """The batching of ``model`` (a new one when the worker reloaded the model meanwhile)."""
        full_key = (*key, options)
        with self._lock:
            entry = self._entries.get(full_key)
            if entry is not None and entry[0] is model:
                self._entries.move_to_end(full_key)
                return entry[1]
            batching = ModelBatching(run, options, observe, self._request_threads)
            self._entries[full_key] = (model, batching)
            while len(self._entries) > MAX_MODELS:
                self._entries.popitem(last=False)
            return batching
