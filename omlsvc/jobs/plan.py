"""How one job scores one input table: which columns feed which model input, what the output holds.

Pure: works on a :class:`TableShape` (what reflection saw) and the model's
:class:`~omlsvc.core.signature.ScoringSpec`, so it is checked when the job is created (a clear 400
instead of a failed run) and rebuilt by the runner, which then uses it to turn rows into
``inputRecords`` for the same :class:`~omlsvc.scoring.scorer.PreparedModel` the REST endpoint
uses, and scoring results into output rows.

Input columns -> model inputs (first rule that applies):

1. ``inputColumnNames`` (our extension) lists the columns; they are handed out in order to the
   model's inputs in the model's order, each input taking as many as its width (1 for ``[N]`` and
   ``[N, 1]``, ``k`` for ``[N, k]``; an input of open width takes the rest);
2. every input has a column of its own name (case-insensitively), and each is one value per row;
3. the model has one input of width ``k`` (or open width): the table's columns other than the key
   and the supplemental columns, in table order (there must be exactly ``k``).

Image models read the image file (PNG, JPEG, ...) from a binary column: the one named in
``inputColumnNames``, the one named like the image input, or the only binary column left.

Output columns (spec section 11.2): the supplemental columns first (original names and types), then
``OML$PREDICTION`` (regression); ``OML$PREDICTIONk, OML$PROBABILITYk`` (classification, best first);
``OML$CLUSTER_IDk, OML$PROBABILITYk`` (clustering; ``OML$DISTANCEk``, nearest first, for a model
that outputs distances); ``OML$FEATURE_IDk, OML$WEIGHTk`` (feature extraction, highest first;
the feature id is the 0-based position in the model's output).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidImage, InvalidInput, OmlError
from omlsvc.core.signature import Function, ModelType, ScoringSpec, TensorInfo
from omlsvc.jobs.properties import ScoringJobProperties

# Column kinds, as :mod:`omlsvc.jobs.tables` classifies reflected types.
NUMBER = "NUMBER"
STRING = "STRING"
BINARY = "BINARY"
BOOLEAN = "BOOLEAN"
TEMPORAL = "TEMPORAL"
OTHER = "OTHER"

# Output column kinds.
COPY = "COPY"
DOUBLE = "DOUBLE"
TEXT = "TEXT"
INTEGER = "INTEGER"

PREFIX = "OML$"
_NUMERIC_TYPES = {"FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16", "INT8", "INT16", "INT32", "INT64"}
_NUMERIC_TYPES |= {"UINT8", "UINT16", "UINT32", "UINT64", "BOOL"}
#: Where the scorer says a value of one record did not fit (see omlsvc.scoring.inputs).
_VALUE_AT = re.compile(r"record 0, input '(?P<input>[^']*)': row (?P<row>\d+)(?:, column (?P<column>\d+))?")
_IMAGE_AT = re.compile(r"^image (?P<row>\d+):")


@dataclass(frozen=True)
class ColumnShape:
    name: str
    kind: str


@dataclass(frozen=True)
class TableShape:
    """A table or view as reflection saw it: real names, column order and kinds, primary key."""

    schema: str | None
    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...]

    def find(self, wanted: str) -> ColumnShape | None:
        """The column named ``wanted``: exactly, else case-insensitively when that is unambiguous."""
        for column in self.columns:
            if column.name == wanted:
                return column
        matches = [c for c in self.columns if c.name.upper() == wanted.upper()]
        if len(matches) > 1:
            raise InvalidInput(
                f"{self.name} has several columns named {wanted!r} in different cases; give the exact name."
            )
        return matches[0] if matches else None


@dataclass(frozen=True)
class InputFeed:
    """One model input and the columns that feed it; ``rank`` 1 means one value per row (``[N]``)."""

    name: str
    columns: tuple[str, ...]
    rank: int


@dataclass(frozen=True)
class OutputColumn:
    name: str
    kind: str
    #: for COPY: the input column copied.
    source: str | None = None


@dataclass(frozen=True)
class ScoringPlan:
    key: str
    supplemental: tuple[str, ...]
    feeds: tuple[InputFeed, ...]
    image_column: str | None
    function: Function
    top_n: int
    outputs: tuple[OutputColumn, ...]
    #: the columns read per chunk, key first; rows handed to :meth:`records` follow this order.
    read_columns: tuple[str, ...]

    @classmethod
    def build(cls, table: TableShape, spec: ScoringSpec, properties: ScoringJobProperties) -> ScoringPlan:
        """Map ``table`` onto ``spec``; :class:`InvalidInput` says what does not fit and how to fix it."""
        key = _key_column(table, properties)
        supplemental = tuple(
            _column(table, name, "supplementalColumnNames").name for name in properties.supplemental_columns
        )
        reserved = {key, *supplemental}
        if spec.model_type is ModelType.ONNX_IMG:
            image = _image_column(table, spec, properties, reserved)
            feeds: tuple[InputFeed, ...] = ()
            used: tuple[str, ...] = (image,)
        else:
            image = None
            feeds = _feeds(table, spec, properties, reserved)
            used = tuple(c for feed in feeds for c in feed.columns)
        top_n = _top_n(spec, properties)
        outputs = (*(OutputColumn(name, COPY, name) for name in supplemental), *_generated(spec, top_n))
        taken = {c.name.upper() for c in outputs if c.kind == COPY}
        clashes = [c.name for c in outputs if c.kind != COPY and c.name.upper() in taken]
        if clashes:
            raise InvalidInput(
                f"supplementalColumnNames may not include generated column names: {', '.join(clashes)}."
            )
        read = tuple(dict.fromkeys((key, *supplemental, *used)))
        return cls(key, supplemental, feeds, image, spec.function, top_n, outputs, read)

    # -- rows -> model -----------------------------------------------------------------------------

    def records(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """``inputRecords`` (one record holding every row) for :meth:`PreparedModel.score_records`."""
        index = {name: i for i, name in enumerate(self.read_columns)}
        record: dict[str, Any] = {}
        for feed in self.feeds:
            positions = [index[c] for c in feed.columns]
            if feed.rank == 1:
                record[feed.name] = [row[positions[0]] for row in rows]
            elif len(positions) == 1:
                (p,) = positions
                record[feed.name] = [[row[p]] for row in rows]
            else:
                getter: Callable[[Sequence[Any]], Any] = operator.itemgetter(*positions)
                record[feed.name] = [list(getter(row)) for row in rows]
        return [record]

    def images(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        """The image files of an image model's rows; a row without one is an error naming its key."""
        position = self.read_columns.index(self.image_column or "")
        images = []
        for row in rows:
            data = row[position]
            if data is None:
                raise InvalidInput(
                    f"the row with {self.key} = {row[0]!r} has no image in {self.image_column}"
                )
            images.append(bytes(data))
        return images

    def explain_failure(self, error: OmlError, rows: Sequence[Sequence[Any]]) -> str:
        """Why scoring ``rows`` failed, naming the column and the row's key at most: the scorer's own
        message is written for a client who sent the values and may quote one, but a run's record must
        never carry a value read from a table."""
        if isinstance(error, InvalidImage):
            found = _IMAGE_AT.match(error.message)
            if found is not None and int(found.group("row")) < len(rows):
                key = rows[int(found.group("row"))][0]
                return f"the row with {self.key} = {key!r} holds no image file the model can read in {self.image_column}"
            return f"column {self.image_column} holds data that is not an image file the model can read"
        if self.image_column is not None and error.message.startswith("the row with "):
            return error.message  # from images() below: names the key only
        found = _VALUE_AT.search(error.message)
        feed = (
            None if found is None else next((f for f in self.feeds if f.name == found.group("input")), None)
        )
        if found is not None and feed is not None and int(found.group("row")) < len(rows):
            position = int(found.group("column") or 0)
            column = feed.columns[position] if position < len(feed.columns) else feed.columns[0]
            key = rows[int(found.group("row"))][0]
            return (
                f"the value in column {column} of the row with {self.key} = {key!r} does not fit the model "
                f"input {feed.name!r}"
            )
        if isinstance(error, InvalidInput):
            columns = ", ".join(c for feed in self.feeds for c in feed.columns)
            return f"values in the columns {columns} do not fit the model's inputs"
        return "the model could not score them"

    # -- results -> output rows ------------------------------------------------------------------

    def output_rows(
        self, rows: Sequence[Sequence[Any]], results: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """One output row (column name -> value) per input row, in the same order."""
        index = {name: i for i, name in enumerate(self.read_columns)}
        copies = [(c.name, index[c.source or c.name]) for c in self.outputs if c.kind == COPY]
        generated = self._generated_values(results)
        return [
            {**{name: row[position] for name, position in copies}, **values}
            for row, values in zip(rows, generated, strict=True)
        ]

    def _generated_values(self, results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [c.name for c in self.outputs if c.kind != COPY]
        n = self.top_n
        if self.function is Function.REGRESSION:
            (name,) = names
            return [{name: result["regression"]} for result in results]
        if self.function is Function.FEATURE_EXTRACTION:
            weights = np.asarray([result["doubleWeights"] for result in results], dtype=np.float64)
            order = np.argsort(-weights, axis=1, kind="stable")[:, :n]
            top = np.take_along_axis(weights, order, axis=1)
            return [
                _pairs(names, list(zip(ids, values, strict=True)), n)
                for ids, values in zip(order.tolist(), top.tolist(), strict=True)
            ]
        if self.function is Function.CLASSIFICATION:
            return [
                _pairs(
                    names, [(item["label"], item["probability"]) for item in result["classifications"][:n]], n
                )
                for result in results
            ]
        measure = "probability" if names[1].startswith(PREFIX + "PROBABILITY") else "distance"
        return [
            _pairs(names, [(item["clusterId"], item[measure]) for item in result["clusters"][:n]], n)
            for result in results
        ]


def _pairs(names: list[str], pairs: list[tuple[Any, Any]], n: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for k in range(n):
        label, value = pairs[k] if k < len(pairs) else (None, None)
        values[names[2 * k]] = label
        values[names[2 * k + 1]] = value
    return values


# -- building --------------------------------------------------------------------------------------


def _column(table: TableShape, name: str, field: str) -> ColumnShape:
    column = table.find(name)
    if column is None:
        available = ", ".join(c.name for c in table.columns)
        raise InvalidInput(f"{field}: {table.name} has no column {name!r} (its columns: {available}).")
    return column


def _key_column(table: TableShape, properties: ScoringJobProperties) -> str:
    if properties.key_column is not None:
        column = _column(table, properties.key_column, "keyColumnName")
        if column.kind == BINARY:
            raise InvalidInput(f"keyColumnName: {column.name} is a binary column and cannot order the input.")
        return column.name
    if len(table.primary_key) == 1:
        return table.primary_key[0]
    why = (
        "a primary key of several columns"
        if table.primary_key
        else "no primary key (a view, or a table without one)"
    )
    raise InvalidInput(
        f"{table.name} has {why}: name a unique, non-null column to read it in order in keyColumnName."
    )


def _width(info: TensorInfo) -> tuple[int, int | None]:
    """(rank, width) of a tabular input: width None when the graph leaves it open."""
    shape = info.shape if info.shape is not None else (-1, -1)
    if len(shape) == 1:
        return 1, 1
    if len(shape) != 2:
        raise InvalidInput(
            f"the model input {info.name!r} is {len(shape)}-D; batch scoring from a table feeds 1-D and 2-D inputs only."
        )
    return 2, shape[1] if shape[1] > 0 else None


def _feeds(
    table: TableShape, spec: ScoringSpec, properties: ScoringJobProperties, reserved: set[str]
) -> tuple[InputFeed, ...]:
    inputs = spec.inputs
    if properties.input_columns is not None:
        columns = [_column(table, name, "inputColumnNames").name for name in properties.input_columns]
        feeds = []
        position = 0
        for number, info in enumerate(inputs):
            rank, width = _width(info)
            if width is None:
                width = len(columns) - position - (len(inputs) - number - 1)
            taken = columns[position : position + width]
            if len(taken) < max(width, 1):
                raise InvalidInput(_count_problem(spec, len(columns)))
            feeds.append(InputFeed(info.name, tuple(taken), rank))
            position += width
        if position != len(columns):
            raise InvalidInput(_count_problem(spec, len(columns)))
        return _checked(table, spec, tuple(feeds))
    named = {info.name: table.find(info.name) for info in inputs}
    if all(column is not None for column in named.values()):
        feeds = []
        for info in inputs:
            rank, width = _width(info)
            if width not in (1, None):
                raise InvalidInput(
                    f"the model input {info.name!r} takes {width} values per row but matches the single column "
                    f"{named[info.name].name!r}; list its columns in inputColumnNames."  # type: ignore[union-attr]
                )
            feeds.append(InputFeed(info.name, (named[info.name].name,), rank))  # type: ignore[union-attr]
        return _checked(table, spec, tuple(feeds))
    if len(inputs) == 1:
        (info,) = inputs
        rank, width = _width(info)
        rest = [c.name for c in table.columns if c.name not in reserved]
        if width is not None and len(rest) != width:
            raise InvalidInput(
                f"the model input {info.name!r} takes {width} columns but {table.name} has {len(rest)} besides the "
                f"key and supplemental columns ({', '.join(rest) or 'none'}); list the {width} columns in "
                "inputColumnNames."
            )
        if not rest:
            raise InvalidInput(f"{table.name} has no column left to feed the model input {info.name!r}.")
        return _checked(table, spec, (InputFeed(info.name, tuple(rest), rank),))
    missing = [name for name, column in named.items() if column is None]
    raise InvalidInput(
        f"the model has inputs {', '.join(repr(i.name) for i in inputs)} and {table.name} has no column named "
        f"{', '.join(repr(m) for m in missing)}; name the columns after the inputs or list them, in input order, "
        "in inputColumnNames."
    )


def _count_problem(spec: ScoringSpec, given: int) -> str:
    shapes = ", ".join(f"{i.name!r} {list(i.shape) if i.shape else '[N, ?]'}" for i in spec.inputs)
    return f"inputColumnNames lists {given} columns, which does not match the model's inputs ({shapes})."


def _checked(table: TableShape, spec: ScoringSpec, feeds: tuple[InputFeed, ...]) -> tuple[InputFeed, ...]:
    for feed in feeds:
        element = spec.input(feed.name).element_type
        for name in feed.columns:
            kind = _column(table, name, "input").kind
            if element in _NUMERIC_TYPES and kind in (BINARY, TEMPORAL):
                raise InvalidInput(
                    f"column {name} ({kind.lower()}) cannot feed the numeric model input {feed.name!r}."
                )
            if element == "STRING" and kind in (BINARY, TEMPORAL, BOOLEAN):
                raise InvalidInput(
                    f"column {name} ({kind.lower()}) cannot feed the string model input {feed.name!r}."
                )
    return feeds


def _image_column(
    table: TableShape, spec: ScoringSpec, properties: ScoringJobProperties, reserved: set[str]
) -> str:
    input_name = spec.image.input_name if spec.image is not None else spec.inputs[0].name
    if properties.input_columns is not None:
        if len(properties.input_columns) != 1:
            raise InvalidInput("an image model reads one column: give exactly one name in inputColumnNames.")
        column = _column(table, properties.input_columns[0], "inputColumnNames")
    else:
        named = table.find(input_name)
        if named is not None:
            column = named
        else:
            binary = [c for c in table.columns if c.kind == BINARY and c.name not in reserved]
            if len(binary) != 1:
                raise InvalidInput(
                    f"the image model reads image files from a binary column: {table.name} has "
                    f"{len(binary)} binary columns besides key and supplemental ones; name one in inputColumnNames."
                )
            column = binary[0]
    if column.kind not in (BINARY, OTHER):
        raise InvalidInput(
            f"column {column.name} ({column.kind.lower()}) cannot hold image files; use a BLOB column."
        )
    return column.name


def _top_n(spec: ScoringSpec, properties: ScoringJobProperties) -> int:
    if spec.function is Function.REGRESSION:
        return 1
    width = spec.width or (len(spec.labels) if spec.labels else None)
    if properties.top_n is None:
        if spec.function is not Function.FEATURE_EXTRACTION:
            return 1
        if width is None:
            raise InvalidInput(
                "topN is required for this model: the number of features is not fixed by its graph."
            )
        return width
    return min(properties.top_n, width) if width else properties.top_n


def _generated(spec: ScoringSpec, top_n: int) -> list[OutputColumn]:
    if spec.function is Function.REGRESSION:
        return [OutputColumn(PREFIX + "PREDICTION", DOUBLE)]
    if spec.function is Function.CLASSIFICATION:
        first, first_kind, second = "PREDICTION", TEXT, "PROBABILITY"
    elif spec.function is Function.CLUSTERING:
        measure = "DISTANCE" if spec.cluster_measure == "distance" else "PROBABILITY"
        first, first_kind, second = "CLUSTER_ID", TEXT, measure
    else:
        first, first_kind, second = "FEATURE_ID", INTEGER, "WEIGHT"
    columns = []
    for k in range(1, top_n + 1):
        columns.append(OutputColumn(f"{PREFIX}{first}{k}", first_kind))
        columns.append(OutputColumn(f"{PREFIX}{second}{k}", DOUBLE))
    return columns
