"""One deployed model, ready to score: spec + session + input converter + output formatter.

A :class:`PreparedModel` is built once per model per worker (by
:class:`omlsvc.scoring.sessions.SessionCache`) and then scores without I/O other than onnxruntime
itself: convert the request, run only the outputs the formatter reads, format one item per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from omlsvc.errors import OmlError, ScoringFailed
from omlsvc.ortmessages import onnxruntime_message
from omlsvc.scoring.images import ImageOptions
from omlsvc.scoring.inputs import Feeds, InputConverter, InputLimits
from omlsvc.scoring.outputs import OutputFormatter, Result
from omlsvc.signature import ModelType, ScoringSpec

_MAX_REASON = 500


class Session(Protocol):
    """The part of ``onnxruntime.InferenceSession`` scoring uses (a fake in tests needs only this)."""

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any]) -> Sequence[Any]: ...


def scoring_failed(exc: BaseException, what: str, *, hide: Sequence[str] = ()) -> ScoringFailed:
    """Translate an onnxruntime exception into :class:`ScoringFailed`.

    onnxruntime's own reason is kept (it usually names the offending input and dimension, which is
    what a client needs); every string in ``hide`` (local paths of the model cache) is replaced so no
    server path leaks, and the error-code header, C++ source paths, signatures and failed internal
    checks are dropped (:func:`omlsvc.ortmessages.onnxruntime_message`).
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
    ) -> None:
        """``hide`` lists strings (the model's local paths) that must never reach an error message."""
        self.spec = spec
        self.session = session
        self.inputs = InputConverter(spec, limits, image_options)
        self.outputs = OutputFormatter(spec)
        self._output_names = list(self.outputs.output_names)
        self._batched_output = spec.output
        self._batch_size = _fixed_batch_size(spec)
        self._hide = tuple(hide)

    def score_records(self, records: Any, top_n: int | None = None) -> list[Result]:
        """``scoringResults`` for parsed JSON ``inputRecords``: one item per row, in order."""
        return self.score_feeds(self.inputs.convert(records), top_n)

    def score_images(self, images: Sequence[bytes], top_n: int | None = None) -> list[Result]:
        """``scoringResults`` for uploaded image files (multipart path): one item per image."""
        return self.score_feeds(self.inputs.convert_image_bytes(images), top_n)

    def score_feeds(self, feeds: Feeds, top_n: int | None = None) -> list[Result]:
        """Run converted feeds and format them; the result count always equals ``feeds.rows``."""
        results = self.outputs.format(self.run(feeds), top_n)
        if len(results) != feeds.rows:
            raise ScoringFailed(f"the model returned {len(results)} results for {feeds.rows} input rows")
        return results

    def run(self, feeds: Feeds) -> dict[str, Any]:
        """Outputs by name for the formatter's outputs only; onnxruntime errors -> ScoringFailed.

        A model whose graph fixes the batch size (common for exported image networks: ``[1, 3, 224,
        224]``) is run in chunks of that size, the last one padded by repeating its final row.
        """
        size = self._batch_size
        if size is None or feeds.rows == size:
            return self._run_once(feeds.arrays)
        parts = []
        for start in range(0, feeds.rows, size):
            chunk = {name: _padded(array[start : start + size], size) for name, array in feeds.arrays.items()}
            taken = min(size, feeds.rows - start)
            part = self._run_once(chunk)
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

    def warm_up(self) -> None:
        """One dummy row through the session, so the first real request does not pay for lazy
        initialisation (memory arenas, CUDA kernels). Raises ScoringFailed if the model refuses it."""
        self.score_feeds(self.inputs.dummy_feeds())

    def _run_once(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        try:
            values = self.session.run(self._output_names, arrays)
        except OmlError:
            raise
        except Exception as exc:
            raise scoring_failed(exc, "onnxruntime could not score the input", hide=self._hide) from exc
        return dict(zip(self._output_names, values, strict=True))


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


def _padded(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[0] == size:
        return array
    filler = np.repeat(array[-1:], size - array.shape[0], axis=0)
    return np.concatenate([array, filler])
