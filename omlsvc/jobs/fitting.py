"""How a table fits a model: which columns feed which input, which column is the key, which output
columns a plan generates. :class:`InvalidInput` says what does not fit and how to fix it.

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

from omlsvc.core.errors import InvalidInput
from omlsvc.core.signature import Function, ScoringSpec, TensorInfo
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.shapes import (
    BINARY,
    BOOLEAN,
    DOUBLE,
    INTEGER,
    OTHER,
    PREFIX,
    TEMPORAL,
    TEXT,
    ColumnShape,
    InputFeed,
    OutputColumn,
    TableShape,
)

_NUMERIC_TYPES = {"FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16", "INT8", "INT16", "INT32", "INT64"}
_NUMERIC_TYPES |= {"UINT8", "UINT16", "UINT32", "UINT64", "BOOL"}


def find_column(table: TableShape, name: str, field: str) -> ColumnShape:
    column = table.find(name)
    if column is None:
        available = ", ".join(c.name for c in table.columns)
        raise InvalidInput(f"{field}: {table.name} has no column {name!r} (its columns: {available}).")
    return column


def key_column(table: TableShape, properties: ScoringJobProperties) -> str:
    if properties.key_column is not None:
        column = find_column(table, properties.key_column, "keyColumnName")
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


def input_feeds(
    table: TableShape, spec: ScoringSpec, properties: ScoringJobProperties, reserved: set[str]
) -> tuple[InputFeed, ...]:
    """The columns feeding each tabular model input, by the first of the three rules that applies."""
    if properties.input_columns is not None:
        return _checked(table, spec, _listed_feeds(table, spec, properties.input_columns))
    named = {info.name: table.find(info.name) for info in spec.inputs}
    if all(column is not None for column in named.values()):
        return _checked(table, spec, _named_feeds(spec, named))
    if len(spec.inputs) == 1:
        return _checked(table, spec, _remaining_feed(table, spec.inputs[0], reserved))
    missing = [name for name, column in named.items() if column is None]
    raise InvalidInput(
        f"the model has inputs {', '.join(repr(i.name) for i in spec.inputs)} and {table.name} has no column named "
        f"{', '.join(repr(m) for m in missing)}; name the columns after the inputs or list them, in input order, "
        "in inputColumnNames."
    )


def _listed_feeds(table: TableShape, spec: ScoringSpec, names: tuple[str, ...]) -> tuple[InputFeed, ...]:
    """Rule 1: the listed columns, handed out in order, each input taking as many as its width."""
    inputs = spec.inputs
    columns = [find_column(table, name, "inputColumnNames").name for name in names]
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
    return tuple(feeds)


def _named_feeds(spec: ScoringSpec, named: dict[str, ColumnShape | None]) -> tuple[InputFeed, ...]:
    """Rule 2: each input from the one column of its own name."""
    feeds = []
    for info in spec.inputs:
        rank, width = _width(info)
        if width not in (1, None):
            raise InvalidInput(
                f"the model input {info.name!r} takes {width} values per row but matches the single column "
                f"{named[info.name].name!r}; list its columns in inputColumnNames."  # type: ignore[union-attr]
            )
        feeds.append(InputFeed(info.name, (named[info.name].name,), rank))  # type: ignore[union-attr]
    return tuple(feeds)


def _remaining_feed(table: TableShape, info: TensorInfo, reserved: set[str]) -> tuple[InputFeed, ...]:
    """Rule 3: the one input from every column but the key and the supplemental ones."""
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
    return (InputFeed(info.name, tuple(rest), rank),)


def _count_problem(spec: ScoringSpec, given: int) -> str:
    shapes = ", ".join(f"{i.name!r} {list(i.shape) if i.shape else '[N, ?]'}" for i in spec.inputs)
    return f"inputColumnNames lists {given} columns, which does not match the model's inputs ({shapes})."


def _checked(table: TableShape, spec: ScoringSpec, feeds: tuple[InputFeed, ...]) -> tuple[InputFeed, ...]:
    for feed in feeds:
        element = spec.input(feed.name).element_type
        for name in feed.columns:
            kind = find_column(table, name, "input").kind
            if element in _NUMERIC_TYPES and kind in (BINARY, TEMPORAL):
                raise InvalidInput(
                    f"column {name} ({kind.lower()}) cannot feed the numeric model input {feed.name!r}."
                )
            if element == "STRING" and kind in (BINARY, TEMPORAL, BOOLEAN):
                raise InvalidInput(
                    f"column {name} ({kind.lower()}) cannot feed the string model input {feed.name!r}."
                )
    return feeds


def image_column(
    table: TableShape, spec: ScoringSpec, properties: ScoringJobProperties, reserved: set[str]
) -> str:
    input_name = spec.image.input_name if spec.image is not None else spec.inputs[0].name
    if properties.input_columns is not None:
        if len(properties.input_columns) != 1:
            raise InvalidInput("an image model reads one column: give exactly one name in inputColumnNames.")
        column = find_column(table, properties.input_columns[0], "inputColumnNames")
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


def top_n_of(spec: ScoringSpec, properties: ScoringJobProperties) -> int:
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


def generated_columns(spec: ScoringSpec, top_n: int) -> list[OutputColumn]:
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
