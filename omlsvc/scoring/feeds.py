"""What one ``session.run`` needs: the arrays fed to onnxruntime, and which record gave which rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
