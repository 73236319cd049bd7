"""One deployed model, ready to score: spec + session + input converter + output formatter.

A :class:`PreparedModel` is built once per model per worker (by
:class:`omlsvc.scoring.sessions.SessionCache`) and then scores without I/O other than onnxruntime
itself: convert the request, run only the outputs the formatter reads, format one item per row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from omlsvc.core.errors import (
    InvalidInput,
    MemoryLimitExceeded,
    OmlError,
    ResponseTooLarge,
    ScoringFailed,
    Unavailable,
)
from omlsvc.core.ortmessages import ALLOCATION_FAILURE, onnxruntime_message
from omlsvc.core.signature import Function, ModelType, ScoringSpec
from omlsvc.scoring.batching import batchable
from omlsvc.scoring.images import ImageOptions
from omlsvc.scoring.inputs import Feeds, InputConverter, InputLimits
from omlsvc.scoring.outputs import OutputFormatter, RankedColumns, Result
from omlsvc.scoring.watchdog import DEFAULT_SCORE_TIMEOUT_S, RunWatchdog

_MAX_REASON = 500
#: How onnxruntime's bounded arena refuses an allocation, and how other allocators fail.
_ARENA_REFUSAL = re.compile(r"Available memory of (\d+) is smaller than requested bytes of (\d+)")
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: The fewest bytes one entry of a result takes in JSON, per function (``{"label":"a","probability":0},``
#: for classes and clusters, ``0,`` for a feature weight): enough to refuse a hopeless answer before
#: building it.
_MIN_ENTRY_BYTES = {
    Function.CLASSIFICATION: 30,
    Function.CLUSTERING: 30,
    Function.REGRESSION: 16,
    Function.FEATURE_EXTRACTION: 2,
}


#: Told how long each phase of a score took: ``(phase, seconds)``, phases from
#: :data:`omlsvc.core.observe.SCORING_PHASES`.
PhaseTimes = Callable[[str, float], None]
#: What runs a request's feeds in place of :meth:`PreparedModel.run`: (feeds, time limit) -> outputs.
RunFeeds = Callable[[Feeds, "float | None"], dict[str, Any]]


def _ignore(phase: str, seconds: float) -> None:
    pass


class Session(Protocol):
    """The part of ``onnxruntime.InferenceSession`` scoring uses (a fake in tests needs only this;
    ``run_options`` is passed only when runs are watched)."""

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any]) -> Sequence[Any]: ...


@dataclass(frozen=True)
class RunLimits:
    """What one worker allows a model run: seconds (unless the deployment says otherwise), bytes of
    onnxruntime memory for all runs together (None: unbounded), bytes of answer."""

    timeout_s: float = DEFAULT_SCORE_TIMEOUT_S
    memory_bytes: int | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


def scoring_failed(exc: BaseException, what: str, *, hide: Sequence[str] = ()) -> ScoringFailed:
    """Translate an onnxruntime exception into :class:`ScoringFailed`.

    onnxruntime's own reason is kept (it usually names the offending input and dimension, which is
    what a client needs); every string in ``hide`` (local paths of the model cache) is replaced so no
    server path leaks, and the error-code header, C++ source paths, signatures and failed internal
    checks are dropped (:func:`omlsvc.core.ortmessages.onnxruntime_message`).
    """
    reason = str(exc)
    for secret in sorted((h for h in hide if h), key=len, reverse=True):
        reason = reason.replace(secret, "<model>")
    reason = onnxruntime_message(reason, _MAX_REASON)
    return ScoringFailed(f"{what}: {reason}" if reason else what)


class PreparedModel:
    """Scores requests for one model. Thread-safe: onnxruntime sessions may be run concurrently and
    the converter and formatter hold no per-request state."""

    def __init__(
        self,
        spec: ScoringSpec,
        session: Session,
        *,
        limits: InputLimits | None = None,
        image_options: ImageOptions | None = None,
        hide: Sequence[str] = (),
        run_limits: RunLimits | None = None,
        watchdog: RunWatchdog | None = None,
        image_mean: np.ndarray | None = None,
    ) -> None:
        """``image_mean`` is the content of the image spec's mean file (issue 16), read by the caller.
        ``hide`` lists strings (the model's local paths) that must never reach an error message.
        Without a ``watchdog`` runs have no time limit (fakes in tests take no run options)."""
        self.spec = spec
        self.session = session
        self.inputs = InputConverter(spec, limits, image_options, image_mean)
        self.outputs = OutputFormatter(spec)
        self._output_names = list(self.outputs.output_names)
        self._batched_output = spec.output
        self._batch_size = _fixed_batch_size(spec)
        self._hide = tuple(hide)
        self.limits = run_limits or RunLimits()
        self._watchdog = watchdog
        #: requests of this model may be merged into one run and split back by rows (issue 20).
        self.batchable = batchable(spec, self._output_names, self._batch_size)

    def score_records(
        self,
        records: Any,
        top_n: int | None = None,
        *,
        timeout_s: float | None = None,
        answer_limit: int | None = None,
        phases: PhaseTimes = _ignore,
        run: RunFeeds | None = None,
        convert: Callable[[InputConverter, Any], Feeds] = InputConverter.convert,
    ) -> list[Result]:
        """``scoringResults`` for parsed JSON ``inputRecords``: one item per row, in order. ``convert``, an
        unbound method (no extra call or object per request), reads other input (:meth:`score_images`)."""
        started = time.perf_counter()
        feeds = convert(self.inputs, records)
        phases("preprocess", time.perf_counter() - started)
        return self.score_feeds(
            feeds, top_n, timeout_s=timeout_s, answer_limit=answer_limit, phases=phases, run=run
        )

    def score_images(
        self,
        images: Sequence[bytes],
        top_n: int | None = None,
        *,
        timeout_s: float | None = None,
        answer_limit: int | None = None,
        phases: PhaseTimes = _ignore,
        run: RunFeeds | None = None,
    ) -> list[Result]:
        """``scoringResults`` for uploaded image files (multipart path): one item per image."""
        return self.score_records(
            images,
            top_n,
            timeout_s=timeout_s,
            answer_limit=answer_limit,
            phases=phases,
            run=run,
            convert=InputConverter.convert_image_bytes,
        )

    def score_feeds(
        self,
        feeds: Feeds,
        top_n: int | None = None,
        *,
        timeout_s: float | None = None,
        answer_limit: int | None = None,
        phases: PhaseTimes = _ignore,
        run: RunFeeds | None = None,
    ) -> list[Result]:
        """Run converted feeds and format them; the result count always equals ``feeds.rows``.

        ``run`` replaces :meth:`run` (a dynamic batcher that merges this request's feeds with
        others' and hands back this request's outputs only).

        ``timeout_s`` (default: the worker's limit) bounds the model run(s) of this call. With an
        ``answer_limit`` (bytes of JSON, for an HTTP answer) results that could not fit it are
        refused before they are built; batch jobs write rows instead and pass none. ``phases`` is
        told how long the run and the formatting took.
        """
        started = time.perf_counter()
        outputs = self.run(feeds, timeout_s=timeout_s) if run is None else run(feeds, timeout_s)
        ran = time.perf_counter()
        phases("run", ran - started)
        if answer_limit is not None:
            self._check_answer_size(outputs, feeds.rows, top_n, answer_limit)
        results = self.outputs.format(outputs, top_n)
        phases("format", time.perf_counter() - ran)
        if len(results) != feeds.rows:
            raise ScoringFailed(f"the model returned {len(results)} results for {feeds.rows} input rows")
        return results

    def run_for_batch(self, feeds: Feeds, timeout_s: float | None) -> dict[str, Any]:
        """:meth:`run` as :mod:`omlsvc.scoring.batching` calls it."""
        return self.run(feeds, timeout_s=timeout_s)

    def rank_records(self, records: Any, top_n: int) -> RankedColumns:
        """Results of parsed ``inputRecords`` column by column, for batch jobs (no answer limit)."""
        return self.rank_feeds(self.inputs.convert(records), top_n)

    def rank_images(self, images: Sequence[bytes], top_n: int) -> RankedColumns:
        """Results of image files column by column, for batch jobs (no answer limit)."""
        return self.rank_feeds(self.inputs.convert_image_bytes(images), top_n)

    def rank_feeds(self, feeds: Feeds, top_n: int, *, timeout_s: float | None = None) -> RankedColumns:
        """:meth:`score_feeds`, column by column (:meth:`OutputFormatter.ranked`): batch jobs write
        table columns, and building a dict per entry was most of their time."""
        ranked = self.outputs.ranked(self.run(feeds, timeout_s=timeout_s), top_n)
        if ranked.rows != feeds.rows:
            raise ScoringFailed(f"the model returned {ranked.rows} results for {feeds.rows} input rows")
        return ranked

    def run(self, feeds: Feeds, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Outputs by name for the formatter's outputs only; onnxruntime errors -> ScoringFailed.

        A model whose graph fixes the batch size (common for exported image networks: ``[1, 3, 224,
        224]``) is run in chunks of that size, the last one padded by repeating its final row. All
        chunks share one deadline ``timeout_s`` from now.
        """
        limit = self.limits.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        size = self._batch_size
        if size is None or feeds.rows == size:
            return self._run_once(feeds.arrays, deadline, limit)
        parts = []
        for start in range(0, feeds.rows, size):
            chunk = {name: _padded(array[start : start + size], size) for name, array in feeds.arrays.items()}
            taken = min(size, feeds.rows - start)
            part = self._run_once(chunk, deadline, limit)
            part[self._batched_output] = part[self._batched_output][:taken]
            parts.append(part)
        merged = dict(parts[0])
        first = parts[0][self._batched_output]
        pieces = [part[self._batched_output] for part in parts]
        if isinstance(first, np.ndarray):
            merged[self._batched_output] = np.concatenate(pieces)
        else:
            merged[self._batched_output] = [row for piece in pieces for row in piece]
        return merged

    def run_tensors(
        self, feeds: Feeds, names: Sequence[str], *, timeout_s: float | None = None
    ) -> dict[str, np.ndarray]:
        """The named values for the whole batch (this model's session must return them: one built
        over a graph with them added as outputs). A graph that fixes its batch size is run in chunks
        as :meth:`run` does, and every value is put back together along axis 0, padding rows dropped;
        a value whose axis 0 is not the batch then cannot be, and is refused."""
        limit = self.limits.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        wanted = list(names)
        size = self._batch_size
        if size is None or feeds.rows == size:
            return _tensors(self._run_once(feeds.arrays, deadline, limit, wanted))
        parts = []
        for start in range(0, feeds.rows, size):
            chunk = {name: _padded(array[start : start + size], size) for name, array in feeds.arrays.items()}
            parts.append(
                (min(size, feeds.rows - start), _tensors(self._run_once(chunk, deadline, limit, wanted)))
            )
        merged: dict[str, np.ndarray] = {}
        for name in wanted:
            pieces = [value[name] for _, value in parts]
            if any(piece.ndim == 0 or piece.shape[0] != size for piece in pieces):
                raise InvalidInput(
                    f"outputTensors: tensor {name!r} has no batch axis of size {size} (the graph runs {size} rows at a "
                    "time): send one row per request to read it"
                )
            merged[name] = np.concatenate(
                [piece[:taken] for (taken, _), piece in zip(parts, pieces, strict=True)]
            )
        return merged

    def run_raw(
        self, arrays: Mapping[str, np.ndarray], names: Sequence[str], *, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Raw tensors in, the graph outputs ``names`` out (any of the graph's outputs, by name): the
        Open Inference Protocol's path, with no conversion and no formatting. The caller has checked
        the arrays against the graph's inputs (names, element types, ranks and fixed dimensions);
        the run has the same time limit, memory bound and error translation as a score."""
        limit = self.limits.timeout_s if timeout_s is None else timeout_s
        return self._run_once(arrays, time.monotonic() + limit, limit, names)

    def warm_up(self, *, timeout_s: float | None = None) -> None:
        """One dummy row through the session, so the first real request does not pay for lazy
        initialisation (memory arenas, CUDA kernels). Raises ScoringFailed if the model refuses it,
        ScoringTimeout if it does not finish within ``timeout_s`` (default: the worker's limit)."""
        self.score_feeds(self.inputs.dummy_feeds(), timeout_s=timeout_s)

    def _run_once(
        self,
        arrays: Mapping[str, np.ndarray],
        deadline: float,
        limit: float,
        output_names: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        names = self._output_names if output_names is None else list(output_names)
        try:
            if self._watchdog is None:
                values = self.session.run(names, arrays)
            else:
                values = self._watchdog.run_until(
                    deadline,
                    lambda options: self.session.run(names, arrays, options),  # type: ignore[call-arg]
                    what="The model run",
                    limit_s=limit,
                )
        except OmlError:
            raise
        except MemoryError:
            raise self._memory_error(None) from None
        except Exception as exc:
            text = str(exc)
            refusal = _ARENA_REFUSAL.search(text)
            if refusal is not None:
                raise self._memory_error(int(refusal.group(2))) from None
            if ALLOCATION_FAILURE.search(text):
                raise self._memory_error(None) from None
            raise scoring_failed(exc, "onnxruntime could not score the input", hide=self._hide) from exc
        return dict(zip(names, values, strict=True))

    def _memory_error(self, requested: int | None) -> OmlError:
        """A run refused for memory: for good when it alone needs more than the worker's limit,
        for now when the memory is held by other runs in flight."""
        limit = self.limits.memory_bytes
        if requested is not None and limit is not None and requested <= limit:
            return Unavailable(
                f"The model run needs {requested} bytes at once and the worker's model memory "
                f"(OMLSVC_MAX_SCORING_MEMORY, {limit} bytes) is held by other requests; retry later."
            )
        needs = f"{requested} bytes at once" if requested is not None else "more memory than it could get"
        bound = f" (at most {limit} bytes)" if limit is not None else ""
        return MemoryLimitExceeded(
            f"The model run needs {needs}, beyond what a worker allows for model runs{bound}, "
            "OMLSVC_MAX_SCORING_MEMORY; send fewer rows or smaller values."
        )

    def _check_answer_size(
        self, outputs: Mapping[str, Any], rows: int, top_n: int | None, limit: int
    ) -> None:
        """Refuse an answer that cannot fit ``limit`` bytes before building it: formatting builds a
        Python object per entry, which for millions of entries is gigabytes."""
        value = outputs.get(self._batched_output)
        if isinstance(value, np.ndarray):
            per_row = value.size // max(1, rows)
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            per_row = len(value[0])
        else:
            per_row = 1
        function = self.spec.function
        if top_n is not None and function in (Function.CLASSIFICATION, Function.CLUSTERING):
            per_row = min(per_row, top_n)
        least = rows * max(1, per_row) * _MIN_ENTRY_BYTES[function]
        if least > limit:
            raise ResponseTooLarge(
                f"The answer would hold {rows} results of {per_row} entries each, at least {least} "
                f"bytes, over the response limit of {limit} bytes "
                "(OMLSVC_MAX_RESPONSE_BYTES); send fewer rows or use topN."
            )


def _fixed_batch_size(spec: ScoringSpec) -> int | None:
    """The batch size the graph insists on, when an input fixes dim 0 (batch axis first only)."""
    if (
        spec.model_type is ModelType.ONNX_IMG
        and spec.image is not None
        and spec.image.dim_names[0] != "batch"
    ):
        return None
    sizes = {t.shape[0] for t in spec.inputs if t.shape and t.shape[0] > 0}
    return min(sizes) if sizes else None


def _tensors(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Named run results as arrays; anything else (a sequence, a map) is not a tensor to return."""
    arrays = {}
    for name, value in values.items():
        if not isinstance(value, np.ndarray):
            raise InvalidInput(
                f"outputTensors: {name!r} is not a tensor (a sequence or map cannot be returned)"
            )
        arrays[name] = value
    return arrays


def _padded(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[0] == size:
        return array
    filler = np.repeat(array[-1:], size - array.shape[0], axis=0)
    return np.concatenate([array, filler])
