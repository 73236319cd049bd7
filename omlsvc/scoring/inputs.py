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
(decoded and preprocessed by :mod:`omlsvc.scoring.images`) or a 4-D array already shaped like the
model input (cast to the element type, never re-normalised).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidImage, InvalidInput, PayloadTooLarge, ScoringFailed
from omlsvc.core.signature import ModelType, ScoringSpec, TensorInfo
from omlsvc.scoring.images import ImageOptions, ImagePreprocessor, PixelBudget, cast_pixels

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_IMAGES = 64

#: ONNX element type -> numpy dtype used to feed onnxruntime (strings go as object arrays of str).
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "FLOAT": np.dtype(np.float32),
    "DOUBLE": np.dtype(np.float64),
    "FLOAT16": np.dtype(np.float16),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "BOOL": np.dtype(np.bool_),
    "STRING": np.dtype(object),
}


@dataclass(frozen=True)
class InputLimits:
    """Per-request ceilings; exceeding one is :class:`PayloadTooLarge`, not a slow request."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_images: int = DEFAULT_MAX_IMAGES


@dataclass(frozen=True)
class Feeds:
    """What one ``session.run`` needs, plus the row bookkeeping to map results back.

    ``row_counts[i]`` is the number of rows record (or uploaded image) ``i`` contributed; the rows
    appear in record order, so ``sum(row_counts) == rows``.
    """

    arrays: dict[str, np.ndarray]
    rows: int
    row_counts: tuple[int, ...]

    def record_of_rows(self) -> list[int]:
        """The record index of every row, in row order."""
        return [index for index, count in enumerate(self.row_counts) for _ in range(count)]


class _BadValue(Exception):
    """One value that cannot be coerced; the caller adds where it was."""


class InputConverter:
    """Converts ``inputRecords`` for one model; everything derivable from the spec is done here once.

    Thread-safe (no mutable state), so one instance serves every request to the model in a worker.
    """

    def __init__(
        self,
        spec: ScoringSpec,
        limits: InputLimits | None = None,
        image_options: ImageOptions | None = None,
    ) -> None:
        self.spec = spec
        self.limits = limits or InputLimits()
        self._images: _ImageInput | None = None
        self._columns: tuple[_Column, ...] = ()
        if spec.model_type is ModelType.ONNX_IMG:
            if spec.image is None:
                raise ScoringFailed("image model without image preprocessing settings")
            self._images = _ImageInput(ImagePreprocessor(spec.image, image_options))
            self._names: tuple[str, ...] = (spec.image.input_name,)
        else:
            self._columns = tuple(_Column(info) for info in spec.inputs)
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
                    column.slow(value, _where(index, column.name))  # raises with the precise problem
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

    def _convert_per_record(self, column: _Column, records: list[dict[str, Any]]) -> np.ndarray:
        """The slow path for one input: record by record, so an error can name its record."""
        parts = []
        for index, record in enumerate(records):
            value = record[column.name]
            array = column.fast(value)
            if array is None:
                array = column.slow(value, _where(index, column.name))
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
            raise InvalidInput(f"record {index} is {_describe(record)}, not an object of input name -> array")
        if record.keys() == self._name_set:
            return
        problems = [f"unknown input {_show(key)}" for key in record if key not in self._name_set]
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
        if encoded > self.limits.max_images:
            raise PayloadTooLarge(f"at most {self.limits.max_images} images may be scored in one request")
        rows: list[np.ndarray] = []
        row_counts: list[int] = []
        total = 0
        budget = images.budget()
        for index, record in enumerate(records):
            value = record[name]
            where = _where(index, name)
            if type(value) is str:
                try:
                    array = images.preprocessor.from_base64(value, budget)
                except InvalidImage as exc:
                    raise InvalidImage(f"{where}: {exc.message}") from exc
            elif type(value) is list:
                array = images.from_array(value, where)
            else:
                raise InvalidInput(
                    f"{where}: expected a base64 string of an image file or a 4-D array of pixel values, "
                    f"got {_describe(value)}"
                )
            count = array.shape[images.batch_axis]
            total += count
            if total > self.limits.max_rows:
                raise PayloadTooLarge(f"inputRecords hold more than {self.limits.max_rows} rows")
            rows.append(array)
            row_counts.append(count)
        return images.feeds(rows, tuple(row_counts))


class _ImageInput:
    """The image input of an ``ONNX_IMG`` model: base64 files or pre-processed 4-D arrays."""

    def __init__(self, preprocessor: ImagePreprocessor) -> None:
        self.preprocessor = preprocessor
        self.name = preprocessor.spec.input_name
        self.batch_axis = preprocessor.spec.dim_names.index("batch")
        shape = list(preprocessor.row_shape)
        shape[self.batch_axis] = -1
        self._shape_text = "[" + ", ".join("N" if d < 0 else str(d) for d in shape) + "]"

    def budget(self) -> PixelBudget:
        return PixelBudget(self.preprocessor.options.max_request_pixels)

    def from_array(self, value: list[Any], where: str) -> np.ndarray:
        dtype = self.preprocessor.dtype
        try:
            if dtype.kind == "f":
                # a finite value beyond the type's range is refused (as for tabular inputs), not
                # silently made infinite
                with np.errstate(over="raise"):
                    array = np.asarray(value, dtype=dtype)
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    array = cast_pixels(np.asarray(value, dtype=np.float64), dtype)
        except FloatingPointError as exc:
            raise InvalidInput(
                f"{where}: a value is out of range for the model's {self.preprocessor.spec.element_type} input"
            ) from exc
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidInput(
                f"{where}: the array must be a 4-D array of numbers shaped {self._shape_text} "
                "(it is ragged or holds something other than numbers)"
            ) from exc
        expected = self.preprocessor.row_shape
        batch = self.batch_axis
        if array.ndim != 4 or any(
            size != want
            for axis, (size, want) in enumerate(zip(array.shape, expected, strict=True))
            if axis != batch
        ):
            raise InvalidInput(
                f"{where}: a {array.ndim}-D array shaped {list(array.shape)} does not match the model input "
                f"{self._shape_text}"
            )
        if array.shape[batch] < 1:
            raise InvalidInput(f"{where}: the array holds no images")
        return array

    def feeds(self, rows: list[np.ndarray], row_counts: tuple[int, ...]) -> Feeds:
        array = rows[0] if len(rows) == 1 else np.concatenate(rows, axis=self.batch_axis)
        return Feeds({self.name: array}, int(array.shape[self.batch_axis]), row_counts)


class _Column:
    """One non-image input: its dtype, expected rank and fixed dimensions, fast and slow converters."""

    def __init__(self, info: TensorInfo) -> None:
        self.name = info.name
        self.element_type = info.element_type
        dtype = NUMPY_DTYPES.get(info.element_type)
        if dtype is None:
            raise ScoringFailed(
                f"input {info.name!r} has element type {info.element_type}, which scoring does not support"
            )
        self.dtype = dtype
        shape = info.shape if info.shape is not None else (-1, -1)
        if len(shape) < 1:
            raise ScoringFailed(f"input {info.name!r} is a scalar; scoring needs a batch axis")
        self.rank = len(shape)
        #: sizes of the non-batch axes, -1 where the model leaves them open.
        self.fixed = tuple(d if d > 0 else -1 for d in shape[1:])
        self.shape_text = "[" + ", ".join(["N", *("?" if d < 0 else str(d) for d in self.fixed)]) + "]"
        if dtype.kind == "f":
            self.kind = "float"
            self._limit = float(np.finfo(dtype).max)
        elif dtype.kind in "iu":
            self.kind = "int"
            info_ = np.iinfo(dtype)
            self._min, self._max = int(info_.min), int(info_.max)
        elif dtype.kind == "b":
            self.kind = "bool"
        else:
            self.kind = "string"

    # -- fast path -------------------------------------------------------------------------------

    def fast(self, value: Any) -> np.ndarray | None:
        """The array for well-formed ``value`` (a list of rows), or None to take the slow path."""
        try:
            if self.kind == "float":
                # a finite value beyond the type's range raises here (an explicit "inf" does not);
                # the slow path then names it
                with np.errstate(over="raise"):
                    array = np.asarray(value, dtype=self.dtype)
                return array if self._shape_ok(array) else None
            if self.kind == "string":
                array = np.array(value, dtype=object)
                if not self._shape_ok(array) or not set(map(type, array.flat)) <= {str}:
                    return None
                return array
            array = np.asarray(value)
        except (ValueError, TypeError, ArithmeticError):
            return None
        if not self._shape_ok(array):
            return None
        kind = array.dtype.kind
        if self.kind == "bool":
            return array if kind == "b" else None
        if kind == "f":
            if not (np.isfinite(array).all() and (array == np.rint(array)).all()):
                return None
        elif kind not in "iub":
            return None
        if kind != "b" and array.size and (array.min() < self._min or array.max() > self._max):
            return None
        return array.astype(self.dtype, copy=False)

    def _shape_ok(self, array: np.ndarray) -> bool:
        if array.ndim != self.rank or array.shape[0] < 1:
            return False
        for size, want in zip(array.shape[1:], self.fixed, strict=True):
            if size < 1 or (want > 0 and size != want):
                return False
        return True

    # -- slow path -------------------------------------------------------------------------------

    def slow(self, value: Any, where: str) -> np.ndarray:
        """Coerce value by value, or raise :class:`InvalidInput` saying exactly what and where."""
        if type(value) is not list:
            raise InvalidInput(
                f"{where}: expected a {self.rank}-D array shaped {self.shape_text} (rows first, so even one "
                f"row is wrapped: [[v1, v2, ...]]), got {_describe(value)}"
            )
        if not value:
            raise InvalidInput(f"{where}: the array has no rows")
        values: list[Any] = []
        shape: list[int] = [len(value)]
        self._walk(value, 1, (), shape, values, where)
        if self.kind == "string":
            array = np.empty(len(values), dtype=object)
            array[:] = values
        else:
            array = np.array(values, dtype=self.dtype)  # every value was coerced and range-checked
        return array.reshape(shape)

    def _walk(
        self,
        items: list[Any],
        depth: int,
        index: tuple[int, ...],
        shape: list[int],
        out: list[Any],
        where: str,
    ) -> None:
        if depth == self.rank:
            for position, item in enumerate(items):
                try:
                    out.append(self._coerce(item))
                except _BadValue as exc:
                    raise InvalidInput(
                        f"{where}: {_location((*index, position), self.rank)}: {exc}"
                    ) from None
            return
        for position, item in enumerate(items):
            here = (*index, position)
            if type(item) is not list:
                hint = " (wrap each row in its own array)" if depth == 1 else ""
                raise InvalidInput(
                    f"{where}: {_location(here, depth)} is {_describe(item)}, expected an array{hint}; "
                    f"the input is shaped {self.shape_text}"
                )
            if len(shape) == depth:
                size = len(item)
                want = self.fixed[depth - 1]
                if size == 0:
                    raise InvalidInput(f"{where}: {_location(here, depth)} is empty")
                if want > 0 and size != want:
                    raise InvalidInput(
                        f"{where}: {_location(here, depth)} has {size} values but the model input is shaped "
                        f"{self.shape_text}"
                    )
                shape.append(size)
            elif len(item) != shape[depth]:
                first = "row 0" if depth == 1 else "the first one"
                raise InvalidInput(
                    f"{where}: {_location(here, depth)} has {len(item)} values but {first} has "
                    f"{shape[depth]}; rows must all be the same length"
                )
            self._walk(item, depth + 1, here, shape, out, where)

    def _coerce(self, item: Any) -> Any:
        if self.kind == "float":
            return self._coerce_float(item)
        if self.kind == "int":
            return self._coerce_int(item)
        if self.kind == "bool":
            return _coerce_bool(item)
        if type(item) is str:
            return item
        if type(item) is int:
            return str(item)
        raise _BadValue(f"{_show(item)} is not a string ({self.element_type} input)")

    def _coerce_float(self, item: Any) -> float:
        kind = type(item)
        if item is None:
            return math.nan
        try:
            if kind is not float and kind is not int and kind is not bool and kind is not str:
                raise _BadValue(f"{_show(item)} is not a number")
            number = float(item)
        except ValueError:
            raise _BadValue(f"{_show(item)} is not a number") from None
        except OverflowError:
            raise _BadValue(f"{_show(item)} is out of range for {self.element_type}") from None
        if math.isfinite(number) and abs(number) > self._limit:
            raise _BadValue(f"{_show(item)} is out of range for {self.element_type}")
        return number

    def _coerce_int(self, item: Any) -> int:
        kind = type(item)
        if kind is int or kind is bool:
            number = int(item)
        elif kind is float:
            if not item.is_integer():
                raise _BadValue(f"{_show(item)} is not an integer ({self.element_type} input)")
            number = int(item)
        elif kind is str:
            text = item.strip()
            try:
                number = int(text)
            except ValueError:
                try:
                    real = float(text)
                except ValueError:
                    raise _BadValue(f"{_show(item)} is not an integer ({self.element_type} input)") from None
                if not real.is_integer():
                    raise _BadValue(f"{_show(item)} is not an integer ({self.element_type} input)") from None
                number = int(real)
        else:
            raise _BadValue(f"{_show(item)} is not an integer ({self.element_type} input)")
        if not self._min <= number <= self._max:
            raise _BadValue(f"{_show(item)} is out of range for {self.element_type}")
        return number

    def dummy(self) -> np.ndarray:
        shape = (1, *(d if d > 0 else 1 for d in self.fixed))
        if self.kind == "string":
            return np.full(shape, "", dtype=object)
        return np.zeros(shape, dtype=self.dtype)


_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})


def _coerce_bool(item: Any) -> bool:
    kind = type(item)
    if kind is bool:
        return bool(item)
    if (kind is int or kind is float) and item in (0, 1):
        return bool(item)
    if kind is str:
        text = item.strip().lower()
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
    raise _BadValue(f"{_show(item)} is not a boolean (true/false)")


def _where(index: int, name: str) -> str:
    return f"record {index}, input {name!r}"


def _location(index: tuple[int, ...], rank: int) -> str:
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2 and rank == 2:
        return f"row {index[0]}, column {index[1]}"
    return "item " + "".join(f"[{i}]" for i in index)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    if isinstance(value, list):
        return "an empty array" if not value else "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    """A short, safe rendering of a client value for an error message."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
