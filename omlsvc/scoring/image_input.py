"""The image input of an ``ONNX_IMG`` model in ``inputRecords``: base64 image files (preprocessed by
:mod:`omlsvc.scoring.images`) or 4-D arrays already shaped like the model input (cast to the element
type, never re-normalised)."""

from __future__ import annotations

from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidInput
from omlsvc.scoring.feeds import Feeds
from omlsvc.scoring.image_spec import cast_pixels
from omlsvc.scoring.images import ImagePreprocessor, PixelBudget


class ImageInput:
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
