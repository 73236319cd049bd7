"""Request bodies and the round-by-round alternation of load points that the HTTP benches share."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson

from bench.load import LoadResult
from bench.models import BenchModel


def oml_body(model: BenchModel, batch: int) -> bytes:
    return orjson.dumps({"inputRecords": [{model.input_name: model.batch(batch).tolist()}]})


def mlserver_body(model: BenchModel, batch: int) -> bytes:
    array = model.batch(batch)
    return orjson.dumps(
        {
            "inputs": [
                {
                    "name": model.input_name,
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "data": array.ravel().tolist(),
                }
            ]
        }
    )


def interleaved(
    points: Sequence[tuple[str, Callable[[], LoadResult]]], rounds: int
) -> dict[str, list[LoadResult]]:
    """Run every point once per round, reversing the order every other round."""
    runs: dict[str, list[LoadResult]] = {name: [] for name, _ in points}
    for round_ in range(rounds):
        order = points if round_ % 2 == 0 else list(reversed(points))
        for name, measure in order:
            runs[name].append(measure())
    return runs
