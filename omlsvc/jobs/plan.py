"""How one job scores one input table: which columns feed which model input, what the output holds.

Pure: works on a :class:`TableShape` (what reflection saw) and the model's
:class:`~omlsvc.core.signature.ScoringSpec`, so it is checked when the job is created (a clear 400
instead of a failed run) and rebuilt by the runner, which then uses it to turn rows into
``inputRecords`` for the same :class:`~omlsvc.scoring.scorer.PreparedModel` the REST endpoint
uses, and scoring results into output rows.

How the columns are chosen: :mod:`omlsvc.jobs.fitting`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omlsvc.core.errors import InvalidImage, InvalidInput, OmlError, ScoringFailed
from omlsvc.core.signature import Function, ModelType, ScoringSpec
from omlsvc.jobs import fitting
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.shapes import COPY, InputFeed, OutputBatch, OutputColumn, TableShape
from omlsvc.scoring.outputs import RankedColumns

#: Where the scorer says a value of one record did not fit (see omlsvc.scoring.inputs).
_VALUE_AT = re.compile(r"record 0, input '(?P<input>[^']*)': row (?P<row>\d+)(?:, column (?P<column>\d+))?")
_IMAGE_AT = re.compile(r"^image (?P<row>\d+):")


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
        key = fitting.key_column(table, properties)
        supplemental = tuple(
            fitting.find_column(table, name, "supplementalColumnNames").name
            for name in properties.supplemental_columns
        )
        reserved = {key, *supplemental}
        if spec.model_type is ModelType.ONNX_IMG:
            image = fitting.image_column(table, spec, properties, reserved)
            feeds: tuple[InputFeed, ...] = ()
            used: tuple[str, ...] = (image,)
        else:
            image = None
            feeds = fitting.input_feeds(table, spec, properties, reserved)
            used = tuple(c for feed in feeds for c in feed.columns)
        top_n = fitting.top_n_of(spec, properties)
        outputs = (
            *(OutputColumn(name, COPY, name) for name in supplemental),
            *fitting.generated_columns(spec, top_n),
        )
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

    def output_batch(self, rows: Sequence[Sequence[Any]], ranked: RankedColumns) -> OutputBatch:
        """The output rows of ``rows`` (one per input row, same order) column by column, in the order
        of :attr:`outputs`: copied columns, then each ranked entry's label and value."""
        if ranked.rows != len(rows):
            raise ScoringFailed(f"the model returned {ranked.rows} results for {len(rows)} input rows")
        index = {name: i for i, name in enumerate(self.read_columns)}
        columns: list[list[Any]] = [
            list(map(operator.itemgetter(index[c.source or c.name]), rows))
            for c in self.outputs
            if c.kind == COPY
        ]
        if self.function is Function.REGRESSION:
            columns += ranked.values
        else:
            for k in range(self.top_n):
                columns += (ranked.names[k], ranked.values[k])
        return OutputBatch(tuple(c.name for c in self.outputs), tuple(columns), len(rows))
