"""onnxruntime outputs -> ``scoringResults`` items (spec section 5.6), prepared once per model.

One item per scored row, in row order:

* classification: ``{"classifications": [{"label", "probability"}, ...]}``: every class in label
  order without ``topN``; with ``topN`` the best ``min(topN, nClasses)`` first (ties keep label order);
* regression: ``{"regression": value}``;
* clustering: ``{"clusters": [{"clusterId", "probability"}, ...]}`` sorted descending, or
  ``{"clusters": [{"clusterId", "distance"}, ...]}`` sorted ascending, sorted with or without ``topN``;
  ``clusterId`` is the column index as a string, or the label.txt line when there is one;
* feature extraction: ``{"doubleWeights": [...]}``, the row flattened.

Numbers are Python floats holding the float64 value of what the model produced (a float32 ``0.1``
becomes ``0.10000000149011612``); NaN stays NaN, and rendering it is the JSON layer's decision.
Sorting is one stable ``argsort`` over the whole batch and values leave numpy with one ``tolist``;
only building the result dicts is per element.

Batch jobs write table columns, not JSON: :meth:`OutputFormatter.ranked` gives the same entries in the
same order column by column (:class:`RankedColumns`), with no object built per entry but the values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidInput, ScoringFailed
from omlsvc.core.signature import Function, LabelSource, ScoringSpec, ValueKind

Result = dict[str, Any]


@dataclass(frozen=True)
class RankedColumns:
    """Results column by column, for batch jobs: ``values[k][i]`` (and ``names[k][i]``) is row ``i``'s
    ``k``-th entry as :meth:`OutputFormatter.format` lists it with the same ``top_n``; None where the
    row has fewer entries. Regression has one value column and no names; feature extraction names
    are the column indices (ints), ranked by weight, highest first."""

    rows: int
    names: list[list[Any]]
    values: list[list[Any]]

    @staticmethod
    def concat(parts: Sequence[RankedColumns]) -> RankedColumns:
        """Parts scored one after another (image chunks), as one."""
        if len(parts) == 1:
            return parts[0]

        def joined(columns: list[list[list[Any]]]) -> list[list[Any]]:
            return [list(itertools.chain.from_iterable(pieces)) for pieces in zip(*columns, strict=True)]

        return RankedColumns(
            sum(part.rows for part in parts),
            joined([part.names for part in parts]),
            joined([part.values for part in parts]),
        )


class OutputFormatter:
    """Formats the outputs of one model; label lists and dispatch are settled at construction.

    :attr:`output_names` lists the graph outputs :meth:`format` reads, which are the only ones worth
    asking onnxruntime for. Thread-safe: the only mutable state is a cache of rendered ZipMap keys,
    replaced atomically.
    """

    def __init__(self, spec: ScoringSpec) -> None:
        self.spec = spec
        self._output = spec.output
        info = next((t for t in spec.outputs if t.name == spec.output), None)
        self._is_map = info is not None and info.kind is ValueKind.SEQUENCE_OF_MAPS
        self._static = list(spec.labels) if spec.labels is not None else None
        self._label_output = spec.label_output if spec.label_source is LabelSource.OUTPUT else None
        if spec.label_source is LabelSource.OUTPUT and not spec.label_output:
            raise ScoringFailed("the model's labels come from an output, but no label output is named")
        if spec.label_source is LabelSource.STATIC and self._static is None:
            raise ScoringFailed("the model's labels are static, but none are stored")
        self._key_cache: tuple[tuple[Any, ...], list[str]] = ((), [])
        self._index_names: list[str] = []
        names = [spec.output]
        if self._label_output is not None and not self._is_map:
            names.append(self._label_output)
        self.output_names: tuple[str, ...] = tuple(names)
        formatters: dict[Function, Callable[[Mapping[str, Any], int | None], list[Result]]] = {
            Function.CLASSIFICATION: self._classification,
            Function.REGRESSION: self._regression,
            Function.CLUSTERING: self._clustering,
            Function.FEATURE_EXTRACTION: self._features,
        }
        self._format = formatters[spec.function]
        if spec.function is Function.CLUSTERING:
            if spec.cluster_measure not in ("probability", "distance"):
                raise ScoringFailed(
                    f"clustering measure must be 'probability' or 'distance', not {spec.cluster_measure!r}"
                )
            self._cluster_key = spec.cluster_measure
            self._descending = spec.cluster_measure == "probability"

    def format(self, outputs: Mapping[str, Any], top_n: int | None = None) -> list[Result]:
        """``scoringResults`` items for one run; ``top_n`` applies to classification and clustering."""
        if top_n is not None and (type(top_n) is not int or top_n < 1):
            raise InvalidInput("topN must be a positive integer")
        try:
            return self._format(outputs, top_n)
        except KeyError as exc:
            raise ScoringFailed(f"the model did not return output {exc.args[0]!r}") from None

    def ranked(self, outputs: Mapping[str, Any], top_n: int) -> RankedColumns:
        """The first ``top_n`` entries of every row, column by column (see :class:`RankedColumns`):
        what :meth:`format` gives, without building an object per entry."""
        if type(top_n) is not int or top_n < 1:
            raise InvalidInput("topN must be a positive integer")
        try:
            function = self.spec.function
            if function is Function.REGRESSION:
                values = self._regression_values(outputs)
                return RankedColumns(values.shape[0], [], [values.tolist()])
            per_row = None
            if function is Function.CLASSIFICATION:
                matrix, labels, per_row = self._class_values(outputs)
                descending = True
            elif function is Function.CLUSTERING:
                matrix = _matrix(outputs[self._output], self._output)
                labels = self._names(matrix.shape[1], "clusters")
                descending = self._descending
            else:
                matrix = _matrix(outputs[self._output], self._output)
                labels, descending = None, True
            return _ranked_columns(matrix, labels, per_row, top_n, descending)
        except KeyError as exc:
            raise ScoringFailed(f"the model did not return output {exc.args[0]!r}") from None

    # -- per function ----------------------------------------------------------------------------

    def _class_values(
        self, outputs: Mapping[str, Any]
    ) -> tuple[np.ndarray, list[str], list[list[str]] | None]:
        """(probabilities ``[rows, classes]``, shared labels, per-row labels or None)."""
        if self._is_map:
            values, labels = self._from_maps(outputs[self._output])
            return values, labels, None
        values = _matrix(outputs[self._output], self._output)
        width = values.shape[1]
        if self._label_output is not None:
            labels, per_row = self._labels_from_output(outputs[self._label_output], values.shape[0], width)
            return values, labels, per_row
        return values, self._names(width, "classes"), None

    def _classification(self, outputs: Mapping[str, Any], top_n: int | None) -> list[Result]:
        values, labels, per_row = self._class_values(outputs)
        if per_row is not None:
            return [
                {"classifications": items}
                for items in _per_row_items(values, per_row, top_n, "label", "probability")
            ]
        items = _ranked_items(values, labels, top_n, True, "label", "probability")
        return [{"classifications": row} for row in items]

    def _clustering(self, outputs: Mapping[str, Any], top_n: int | None) -> list[Result]:
        values = _matrix(outputs[self._output], self._output)
        labels = self._names(values.shape[1], "clusters")
        sort_top = values.shape[1] if top_n is None else top_n
        items = _ranked_items(values, labels, sort_top, self._descending, "clusterId", self._cluster_key)
        return [{"clusters": row} for row in items]

    def _regression(self, outputs: Mapping[str, Any], top_n: int | None) -> list[Result]:
        return [{"regression": value} for value in self._regression_values(outputs).tolist()]

    def _regression_values(self, outputs: Mapping[str, Any]) -> np.ndarray:
        """The ``[rows]`` float64 predictions."""
        array = np.asarray(outputs[self._output])
        if array.ndim == 0:
            raise ScoringFailed(f"output {self._output!r} has no batch axis")
        rows = array.shape[0]
        if array.size != rows:
            raise ScoringFailed(
                f"output {self._output!r} has {array.size // max(rows, 1)} values per row; regression needs 1"
            )
        return array.reshape(rows).astype(np.float64)

    def _features(self, outputs: Mapping[str, Any], top_n: int | None) -> list[Result]:
        values = _matrix(outputs[self._output], self._output)
        return [{"doubleWeights": row} for row in values.tolist()]

    # -- labels ----------------------------------------------------------------------------------

    def _names(self, width: int, what: str) -> list[str]:
        """Static labels, checked against the output width, or column indices rendered as strings."""
        if self._static is not None:
            if len(self._static) != width:
                raise ScoringFailed(
                    f"the model returned {width} {what} but {len(self._static)} labels are stored"
                )
            return self._static
        names = self._index_names
        if len(names) != width:
            names = [str(i) for i in range(width)]
            self._index_names = names
        return names

    def _labels_from_output(
        self, raw: Any, rows: int, width: int
    ) -> tuple[list[str], list[list[str]] | None]:
        """Labels from the label tensor: ``(shared, None)`` for ``nClasses`` values (or a
        ``[batch, nClasses]`` tensor whose rows agree), ``([], per_row)`` when rows differ."""
        flat = [_label_text(v) for v in np.asarray(raw).reshape(-1).tolist()]
        if len(flat) == width:
            return flat, None
        if rows and len(flat) == rows * width:
            per_row = [flat[i * width : (i + 1) * width] for i in range(rows)]
            if all(row == per_row[0] for row in per_row):
                return per_row[0], None
            return [], per_row
        raise ScoringFailed(f"label output {self._label_output!r} has {len(flat)} values for {width} classes")

    def _from_maps(self, maps: Any) -> tuple[np.ndarray, list[str]]:
        """ZipMap output (a list of ``{label: probability}``, one per row) -> matrix + label order."""
        if not isinstance(maps, list):
            raise ScoringFailed(f"output {self._output!r} is not a sequence of maps")
        if not maps:
            return np.zeros((0, 0)), []
        first = maps[0]
        width = len(first)
        if any(len(row) != width for row in maps):
            raise ScoringFailed(f"output {self._output!r} has rows with different numbers of classes")
        keys = tuple(first)
        cached_keys, labels = self._key_cache
        if keys != cached_keys:
            labels = [_label_text(key) for key in keys]
            self._key_cache = (keys, labels)
        values = np.fromiter(
            itertools.chain.from_iterable(row.values() for row in maps),
            dtype=np.float64,
            count=len(maps) * width,
        )
        return values.reshape(len(maps), width), labels


def _matrix(raw: Any, name: str) -> np.ndarray:
    """A ``[batch, width]`` float64 view of a tensor output (higher ranks flattened per row)."""
    if not isinstance(raw, np.ndarray):
        raise ScoringFailed(f"output {name!r} is not a tensor")
    if raw.ndim == 0:
        raise ScoringFailed(f"output {name!r} has no batch axis")
    if raw.ndim == 1:
        raw = raw[:, np.newaxis]
    elif raw.ndim > 2:
        raw = raw.reshape(raw.shape[0], -1)
    if raw.dtype.kind not in "fiub":
        raise ScoringFailed(f"output {name!r} holds {raw.dtype} values, not numbers")
    return raw.astype(np.float64, copy=False)


def _ranked_items(
    values: np.ndarray,
    names: Sequence[str],
    top_n: int | None,
    descending: bool,
    name_key: str,
    value_key: str,
) -> list[list[Result]]:
    """Per row ``[{name_key: name, value_key: value}, ...]``: in column order when ``top_n`` is None,
    else the first ``top_n`` in sorted order (NaN last either way, ties in column order)."""
    if top_n is None:
        return [
            [{name_key: name, value_key: value} for name, value in zip(names, row, strict=True)]
            for row in values.tolist()
        ]
    order = np.argsort(-values if descending else values, axis=1, kind="stable")
    if top_n < values.shape[1]:
        order = order[:, :top_n]
    ranked = np.take_along_axis(values, order, axis=1).tolist()
    return [
        [{name_key: names[j], value_key: value} for j, value in zip(columns, row, strict=True)]
        for columns, row in zip(order.tolist(), ranked, strict=True)
    ]


def _ranked_columns(
    values: np.ndarray,
    labels: Sequence[str] | None,
    per_row: list[list[str]] | None,
    top_n: int,
    descending: bool,
) -> RankedColumns:
    """Column-wise :func:`_ranked_items` (same sort, same ties, NaN last): ``labels`` None names
    entries by column index; ``per_row`` gives every row its own labels."""
    rows = values.shape[0]
    order = np.argsort(-values if descending else values, axis=1, kind="stable")
    if top_n < values.shape[1]:
        order = order[:, :top_n]
    top = np.take_along_axis(values, order, axis=1)
    if per_row is not None:
        names = np.take_along_axis(np.array(per_row, dtype=object), order, axis=1)
    elif labels is not None:
        table = np.empty(len(labels), dtype=object)
        table[:] = labels
        names = table[order]
    else:
        names = order
    kept = order.shape[1]
    missing = [[None] * rows for _ in range(top_n - kept)]
    return RankedColumns(
        rows,
        [names[:, k].tolist() for k in range(kept)] + missing,
        [top[:, k].tolist() for k in range(kept)] + [list(column) for column in missing],
    )


def _per_row_items(
    values: np.ndarray, names: list[list[str]], top_n: int | None, name_key: str, value_key: str
) -> list[list[Result]]:
    """As :func:`_ranked_items` (descending) when every row carries its own label list."""
    result = []
    for row, row_names in enumerate(names):
        (items,) = _ranked_items(values[row : row + 1], row_names, top_n, True, name_key, value_key)
        result.append(items)
    return result


def _label_text(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
