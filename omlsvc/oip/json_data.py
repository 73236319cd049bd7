"""Tensor data as JSON ``data`` in the Open Inference Protocol: decoding a request's values into an
array of the datatype (checking they are of it), and encoding an output's values (NaN and infinity
as null, which JSON lacks). Every refusal is :class:`InvalidInput` (a 400), naming the tensor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidInput
from omlsvc.oip.tensors import NUMPY_OF, SMALL, Where

_FLOAT_MAX = {name: float(np.finfo(NUMPY_OF[name]).max) for name in ("FP16", "FP32")}


def decode_json_data(
    data: object, datatype: str, shape: tuple[int, ...], count: int, where: Where
) -> np.ndarray:
    """Row-major ``data``, flat or nested as the shape (the protocol allows both), in one
    ``np.array`` call: what numpy infers from the values decides whether they are of the datatype."""
    if not isinstance(data, list):
        raise InvalidInput(f"The data of {where} must be an array.")
    try:
        values = np.array(data)
    except (ValueError, OverflowError, RecursionError):
        raise InvalidInput(f"The data of {where} must be a flat or evenly nested array of values.") from None
    if values.size != count:
        raise InvalidInput(
            f"{where.capitalize()} has shape {list(shape)} ({count} elements) but its data holds {values.size}."
        )
    dtype = NUMPY_OF[datatype]
    if count == 0:
        return np.empty(shape, dtype=dtype)
    kind = values.dtype.kind
    if datatype == "BYTES":
        if kind != "U":
            raise InvalidInput(f"The data of BYTES {where} must be strings.")
        texts = np.empty(count, dtype=np.object_)
        texts[:] = [v.encode("utf-8") for v in values.reshape(-1).tolist()]
        return texts.reshape(shape)
    if datatype == "BOOL":
        if kind != "b":
            raise InvalidInput(f"The data of BOOL {where} must be true or false.")
        return values.reshape(shape)
    floating = dtype.kind == "f"
    if kind not in ("iuf" if floating else "iu"):
        raise InvalidInput(f"The data of {datatype} {where} must be {'numbers' if floating else 'integers'}.")
    if floating:
        if dtype.itemsize == 8:
            return values.astype(dtype).reshape(shape)
        # JSON numbers are finite: only a narrower type can overflow, to infinity.
        if count <= SMALL and values.ndim == 1:
            # a few numbers in a flat list (batch 1): Python's min and max beat numpy's calls
            top = _FLOAT_MAX[datatype]
            if max(data) > top or min(data) < -top:
                raise InvalidInput(f"The data of {where} holds values out of range for {datatype}.")
            return values.astype(dtype).reshape(shape)
        # one reduction finds an overflow: finite float16/32 values cannot sum to infinity in float64
        with np.errstate(over="ignore"):
            cast = values.astype(dtype).reshape(shape)
        if not math.isfinite(float(cast.sum(dtype=np.float64))):
            raise InvalidInput(f"The data of {where} holds values out of range for {datatype}.")
        return cast
    info = np.iinfo(dtype)
    if values.min() < info.min or values.max() > info.max:
        raise InvalidInput(f"The data of {where} holds values out of range for {datatype}.")
    return values.astype(dtype).reshape(shape)


def encode_json_data(array: np.ndarray) -> list[Any]:
    """An output's values, flat and row-major, as JSON ``data`` (``BYTES`` as UTF-8 text)."""
    flat = array.reshape(-1)
    if array.dtype.kind in "OSU":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    values = flat.tolist()
    if array.dtype.kind != "f":
        return values
    # JSON has no NaN or infinity: they travel as null (ask binary_data to keep them). A few values
    # are looked at in Python; more at once by a float64 sum (one reduction), finite only when all are.
    isfinite = math.isfinite
    if len(values) <= SMALL:
        if all(map(isfinite, values)):
            return values
    elif isfinite(float(flat.sum(dtype=np.float64))):
        return values
    return [v if isfinite(v) else None for v in values]
