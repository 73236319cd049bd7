"""One non-image input of a model (a "column"): its dtype, rank and fixed dimensions, and the two
ways ``inputRecords`` values become its array.

The fast path is one ``np.asarray`` over well-formed rows; the slow path walks value by value to
coerce what the fast path could not (numeric strings, ``null`` as NaN, integral floats) or to name
exactly which value of which row is wrong. The coercion rules are listed in :mod:`omlsvc.scoring.inputs`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidInput, ScoringFailed
from omlsvc.core.signature import TensorInfo
from omlsvc.scoring.client_values import describe, location, show

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


class BadValue(Exception):
    """One value that cannot be coerced; the caller adds where it was."""


class Column:
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
                f"row is wrapped: [[v1, v2, ...]]), got {describe(value)}"
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
                except BadValue as exc:
                    raise InvalidInput(f"{where}: {location((*index, position), self.rank)}: {exc}") from None
            return
        for position, item in enumerate(items):
            here = (*index, position)
            if type(item) is not list:
                hint = " (wrap each row in its own array)" if depth == 1 else ""
                raise InvalidInput(
                    f"{where}: {location(here, depth)} is {describe(item)}, expected an array{hint}; "
                    f"the input is shaped {self.shape_text}"
                )
            if len(shape) == depth:
                size = len(item)
                want = self.fixed[depth - 1]
                if size == 0:
                    raise InvalidInput(f"{where}: {location(here, depth)} is empty")
                if want > 0 and size != want:
                    raise InvalidInput(
                        f"{where}: {location(here, depth)} has {size} values but the model input is shaped "
                        f"{self.shape_text}"
                    )
                shape.append(size)
            elif len(item) != shape[depth]:
                first = "row 0" if depth == 1 else "the first one"
                raise InvalidInput(
                    f"{where}: {location(here, depth)} has {len(item)} values but {first} has "
                    f"{shape[depth]}; rows must all be the same length"
                )
            self._walk(item, depth + 1, here, shape, out, where)

    def _coerce(self, item: Any) -> Any:
        if self.kind == "float":
            return self._coerce_float(item)
        if self.kind == "int":
            return self._coerce_int(item)
        if self.kind == "bool":
            return coerce_bool(item)
        if type(item) is str:
            return item
        if type(item) is int:
            return str(item)
        raise BadValue(f"{show(item)} is not a string ({self.element_type} input)")

    def _coerce_float(self, item: Any) -> float:
        kind = type(item)
        if item is None:
            return math.nan
        try:
            if kind is not float and kind is not int and kind is not bool and kind is not str:
                raise BadValue(f"{show(item)} is not a number")
            number = float(item)
        except ValueError:
            raise BadValue(f"{show(item)} is not a number") from None
        except OverflowError:
            raise BadValue(f"{show(item)} is out of range for {self.element_type}") from None
        if math.isfinite(number) and abs(number) > self._limit:
            raise BadValue(f"{show(item)} is out of range for {self.element_type}")
        return number

    def _coerce_int(self, item: Any) -> int:
        kind = type(item)
        if kind is int or kind is bool:
            number = int(item)
        elif kind is float:
            if not item.is_integer():
                raise BadValue(f"{show(item)} is not an integer ({self.element_type} input)")
            number = int(item)
        elif kind is str:
            text = item.strip()
            try:
                number = int(text)
            except ValueError:
                try:
                    real = float(text)
                except ValueError:
                    raise BadValue(f"{show(item)} is not an integer ({self.element_type} input)") from None
                if not real.is_integer():
                    raise BadValue(f"{show(item)} is not an integer ({self.element_type} input)") from None
                number = int(real)
        else:
            raise BadValue(f"{show(item)} is not an integer ({self.element_type} input)")
        if not self._min <= number <= self._max:
            raise BadValue(f"{show(item)} is out of range for {self.element_type}")
        return number

    def dummy(self) -> np.ndarray:
        shape = (1, *(d if d > 0 else 1 for d in self.fixed))
        if self.kind == "string":
            return np.full(shape, "", dtype=object)
        return np.zeros(shape, dtype=self.dtype)


_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})


def coerce_bool(item: Any) -> bool:
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
    raise BadValue(f"{show(item)} is not a boolean (true/false)")
