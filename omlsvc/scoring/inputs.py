"""``inputRecords`` (already parsed JSON) -> onnxruntime feeds, prepared once per model.

Non-image models (spec section 5.6): every record maps each ONNX input name to an array whose first
axis is the batch (``[[v1, v2, ...], ...]``, even for one row). A record may hold several rows; all
inputs of a record must hold the same number. Records are concatenated along the batch axis, and
:attr:`Feeds.row_counts` remembers how many rows each record gave, so results (one per row, in order)
can be traced back to records.

Coercion to the input's element type is lenient where Oracle's own examples are, strict elsewhere:

* float inputs take numbers, numeric strings (``"5"``, ``"NaN"``, ``"inf"``), ``true``/``false``
  (1/0) and ``null`` (NaN, the usual "missing" marker for sklearn imputers); finite values beyond
  the type's range are refused rather than silently becoming infinite;
* integer inputs take integral numbers (``3`` or ``3.0``), integral numeric strings and booleans,
  range-checked;
* bool inputs take ``true``/``false``, 0/1 and the strings ``"true"``/``"false"``/``"1"``/``"0"``;
* string inputs take strings and integers (categorical codes sent as numbers); floats, booleans and
  ``null`` are refused because their text form would silently miss the trained categories.

Speed: the well-formed case is one ``np.asarray`` over the rows of all records per input; only when
that fails or a check rejects its result does the slow, per-value path run, record by record, to
either coerce what the fast path could not or name exactly what is wrong.

Image models (``ONNX_IMG``): each record's value for the image input is a base64 image file
(decoded and preprocessed by :mod:`omlsvc.scoring.images`), a 4-D array already shaped like the
model input (cast to the element type, never re-normalised), or (issue 16) ``{"imageUrl": "..."}``,
an image file fetched through the injected fetcher (:mod:`omlsvc.scoring.image_urls`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidImage, InvalidInput, PayloadTooLarge, ScoringFailed
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.scoring.client_values import describe, show, where_in_record
from omlsvc.scoring.columns import Column
from omlsvc.scoring.feeds import Feeds
from omlsvc.scoring.image_input import ImageInput
from omlsvc.scoring.image_urls import URL_FIELD, UrlRequest, is_reference
from omlsvc.scoring.images import ImageOptions, ImagePreprocessor

__all__ = ["DEFAULT_MAX_IMAGES", "DEFAULT_MAX_ROWS", "Feeds", "InputConverter", "InputLimits"]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_IMAGES = 64


@dataclass(frozen=True)
class InputLimits:
    """Per-request ceilings; exceeding one is :class:`PayloadTooLarge`, not a slow request."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_images: int = DEFAULT_MAX_IMAGES


class InputConverter:
    """Converts ``inputRecords`` for one model; everything derivable from the spec is done here once.

    Thread-safe (no mutable state), so one instance serves every request to the model in a worker.
    """

    def __init__(
        self,
        spec: ScoringSpec,
        limits: InputLimits | None = None,
        image_options: ImageOptions | None = None,
        image_mean: np.ndarray | None = None,
    ) -> None:
        """``image_mean``: the content of an image model's mean file, when its spec names one."""
        self.spec = spec
        self.limits = limits or InputLimits()
        self._images: ImageInput | None = None
        self._columns: tuple[Column, ...] = ()
        if spec.model_type is ModelType.ONNX_IMG:
            if spec.image is None:
                raise ScoringFailed("image model without image preprocessing settings")
            self._images = ImageInput(ImagePreprocessor(spec.image, image_options, image_mean))
            self._names: tuple[str, ...] = (spec.image.input_name,)
        else:
            self._columns = tuple(Column(info) for info in spec.inputs)
            self._names = tuple(column.name for column in self._columns)
        if not self._names:
            raise ScoringFailed("the model has no inputs")
        self._name_set = frozenset(self._names)
        self._expected = ", ".join(repr(name) for name in self._names)

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._names

    def convert(self, records: Any) -> Feeds:
        """Turn parsed ``inputRecords`` into feeds; :class:`InvalidInput` names the record and input."""
        if not isinstance(records, list):
            raise InvalidInput("inputRecords must be an array of objects")
        if not records:
            raise InvalidInput("inputRecords is empty")
        if len(records) > self.limits.max_rows:  # every record holds at least one row
            raise PayloadTooLarge(f"inputRecords hold more than {self.limits.max_rows} rows")
        if self._images is not None:
            return self._convert_images(records)
        return self._convert_tabular(records)

    def convert_image_bytes(self, images: Sequence[bytes]) -> Feeds:
        """Feeds for uploaded image files (the multipart path); one row per image, in order."""
        if self._images is None:
            raise InvalidInput("this model does not take images; send JSON inputRecords")
        if not images:
            raise InvalidInput("no image was sent")
        if len(images) > self.limits.max_images:
            raise PayloadTooLarge(f"at most {self.limits.max_images} images may be scored in one request")
        rows = []
        budget = self._images.budget()
        for index, data in enumerate(images):
            try:
                rows.append(self._images.preprocessor.preprocess(data, budget))
            except InvalidImage as exc:
                if len(images) == 1:
                    raise
                raise InvalidImage(f"image {index}: {exc.message}") from exc
        return self._images.feeds(rows, tuple(1 for _ in rows))

    def dummy_feeds(self) -> Feeds:
        """A one-row batch of zeros (empty strings for string inputs) for warming a session up."""
        if self._images is not None:
            pre = self._images.preprocessor
            return self._images.feeds([np.zeros(pre.row_shape, dtype=pre.dtype)], (1,))
        return Feeds({c.name: c.dummy() for c in self._columns}, 1, (1,))

    # -- non-image -------------------------------------------------------------------------------

    def _convert_tabular(self, records: list[Any]) -> Feeds:
        columns = self._columns
        pending: dict[str, list[Any]] = {column.name: [] for column in columns}
        row_counts: list[int] = []
        total = 0
        max_rows = self.limits.max_rows
        for index, record in enumerate(records):
            self._check_record(index, record)
            count = -1
            first = ""
            for column in columns:
                value = record[column.name]
                if type(value) is not list or not value:
                    column.slow(value, where_in_record(index, column.name))  # raises with the precise problem
                if count < 0:
                    count, first = len(value), column.name
                elif len(value) != count:
                    raise InvalidInput(
                        f"record {index}: input {first!r} has {count} rows but input {column.name!r} has "
                        f"{len(value)}; every input of a record must have the same number of rows"
                    )
                pending[column.name].extend(value)
            total += count
            if total > max_rows:
                raise PayloadTooLarge(f"inputRecords hold more than {max_rows} rows")
            row_counts.append(count)
        arrays: dict[str, np.ndarray] = {}
        for column in columns:
            array = column.fast(pending[column.name])
            if array is None:
                array = self._convert_per_record(column, records)
            arrays[column.name] = array
        return Feeds(arrays, total, tuple(row_counts))

    def _convert_per_record(self, column: Column, records: list[dict[str, Any]]) -> np.ndarray:
        """The slow path for one input: record by record, so an error can name its record."""
        parts = []
        for index, record in enumerate(records):
            value = record[column.name]
            array = column.fast(value)
            if array is None:
                array = column.slow(value, where_in_record(index, column.name))
            parts.append(array)
        first = parts[0].shape[1:]
        for index, part in enumerate(parts):
            if part.shape[1:] != first:
                raise InvalidInput(
                    f"input {column.name!r}: record 0 has rows shaped {list(first)} but record {index} has "
                    f"{list(part.shape[1:])}; all rows of one request must have the same shape"
                )
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _check_record(self, index: int, record: Any) -> None:
        if type(record) is not dict:
            raise InvalidInput(f"record {index} is {describe(record)}, not an object of input name -> array")
        if record.keys() == self._name_set:
            return
        problems = [f"unknown input {show(key)}" for key in record if key not in self._name_set]
        problems += [f"missing input {name!r}" for name in self._names if name not in record]
        raise InvalidInput(f"record {index}: {'; '.join(problems)} (the model's inputs are {self._expected})")

    # -- images ----------------------------------------------------------------------------------

    def _convert_images(self, records: list[Any]) -> Feeds:
        assert self._images is not None
        images = self._images
        name = self._names[0]
        for index, record in enumerate(records):
            self._check_record(index, record)
        encoded = sum(1 for record in records if type(record[name]) is str)
        referenced = sum(1 for record in records if is_reference(record[name]))
        urls = UrlRequest(images.preprocessor.options.urls, referenced)  # refuses too many, before any fetch
        if encoded + referenced > self.limits.max_images:
            raise PayloadTooLarge(f"at most {self.limits.max_images} images may be scored in one request")
        rows: list[np.ndarray] = []
        row_counts: list[int] = []
        total = 0
        budget = images.budget()
        for index, record in enumerate(records):
            value = record[name]
            where = where_in_record(index, name)
            if type(value) is str:
                try:
                    array = images.preprocessor.from_base64(value, budget)
                except InvalidImage as exc:
                    raise InvalidImage(f"{where}: {exc.message}") from exc
            elif is_reference(value):
                data = urls.fetch(value, where)
                try:
                    array = images.preprocessor.preprocess(data, budget)
                except InvalidImage as exc:
                    raise InvalidImage(f"{where}, {URL_FIELD}: {exc.message}") from exc
            elif type(value) is list:
                array = images.from_array(value, where)
            else:
                raise InvalidInput(
                    f"{where}: expected a base64 string of an image file, a 4-D array of pixel values or "
                    f'{{"{URL_FIELD}": "..."}}, got {describe(value)}'
                )
            count = array.shape[images.batch_axis]
            total += count
            if total > self.limits.max_rows:
                raise PayloadTooLarge(f"inputRecords hold more than {self.limits.max_rows} rows")
            rows.append(array)
            row_counts.append(count)
        return images.feeds(rows, tuple(row_counts))
