"""``client.score`` and ``client.score_image``: records, arrays and frames in, plain results out.

Records are the service's own shape (``[{"input": [[...row...]]}, ...]``). A numpy array or a pandas
DataFrame is turned into that shape here, in batches of rows (one record holding many rows per
request, as the service allows): a 2-D array, or a frame whose columns are not the model's input
names, feeds the model's one input row by row; a frame whose columns name the model's inputs feeds
each input from its column. Which of the two is read from the deployment's metadata (one GET) unless
``input_name`` says it. numpy, pandas and Pillow are never imported here: values are recognised by
what they can do (``tolist``, ``to_numpy``, ``save``), so the client works without them.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from requests_toolbelt.multipart.encoder import MultipartEncoder

from omlsvc.client.errors import ClientError
from omlsvc.client.transport import Http, segment

DEPLOYMENTS = "/omlmod/v1/deployment"
ROUTE_KEY_HEADER = "X-Omlsvc-Route-Key"
DEFAULT_BATCH_ROWS = 1000


class Scoring:
    def __init__(self, http: Http) -> None:
        self._http = http

    def score(
        self,
        uri: str,
        data: Any,
        *,
        top_n: int | None = None,
        input_name: str | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        route_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """Score records (a list of ``{input: rows}``), a 2-D numpy array or a pandas DataFrame with
        the model deployed at ``uri``; one plain result per row, in order."""
        if batch_rows < 1:
            raise ClientError("batch_rows must be at least 1.")
        results: list[dict[str, Any]] = []
        for records in self._batches(uri, data, input_name, batch_rows):
            body: dict[str, Any] = {"inputRecords": records}
            if top_n is not None:
                body["topN"] = top_n
            headers = {ROUTE_KEY_HEADER: route_key} if route_key else None
            answer = self._http.json(
                "POST",
                f"{DEPLOYMENTS}/{segment(uri)}/score",
                json_body=body,
                headers=headers,
                replay_safe=True,
            )
            results.extend(answer["scoringResults"])
        return results

    def score_image(
        self, uri: str, image: Any, *, top_n: int | None = None, route_key: str | None = None
    ) -> dict[str, Any]:
        """Score one image (a path, the file's bytes, or a PIL image, sent as PNG) with an image model."""
        content, filename = _image_bytes(image)
        fields: list[tuple[str, Any]] = [("imageData", (filename, content, "application/octet-stream"))]
        if top_n is not None:
            fields.append(("topN", str(top_n)))

        def body() -> tuple[Any, Mapping[str, str]]:
            encoder = MultipartEncoder(fields=fields)
            return encoder, {"Content-Type": encoder.content_type}

        headers = {ROUTE_KEY_HEADER: route_key} if route_key else None
        answer = self._http.json(
            "POST", f"{DEPLOYMENTS}/{segment(uri)}/score", body=body, headers=headers, replay_safe=True
        )
        return dict(answer["scoringResults"][0])

    def _batches(
        self, uri: str, data: Any, input_name: str | None, batch_rows: int
    ) -> Iterator[list[dict[str, Any]]]:
        if isinstance(data, Mapping):
            data = [data]
        if isinstance(data, (list, tuple)):
            records = [{str(k): _plain(v) for k, v in dict(r).items()} for r in data]
            for start in range(0, len(records), batch_rows):
                yield records[start : start + batch_rows]
            return
        if hasattr(data, "to_numpy") and hasattr(data, "columns"):  # a pandas DataFrame
            columns = [str(c) for c in data.columns]
            attributes = None if input_name else self._attributes(uri)
            names = [a["name"] for a in attributes or []]
            if (
                attributes
                and len(names) > 0
                and set(names) <= set(columns)
                and not (len(names) == 1 and names[0] not in columns)
            ):
                rank = {a["name"]: len(a.get("shape") or [0, 0]) for a in attributes}
                for start in range(0, len(data), batch_rows):
                    part = data.iloc[start : start + batch_rows]
                    yield [{name: _column_rows(part[name].to_numpy().tolist(), rank[name]) for name in names}]
                return
            yield from _matrix_batches(
                data.to_numpy(), self._single_input(uri, input_name, attributes), batch_rows
            )
            return
        if hasattr(data, "tolist") and hasattr(data, "ndim"):  # a numpy array
            if data.ndim != 2:
                raise ClientError(f"Give a 2-D array (rows x features), got {data.ndim} dimensions.")
            yield from _matrix_batches(data, self._single_input(uri, input_name, None), batch_rows)
            return
        raise ClientError(
            f"Cannot score a {type(data).__name__}: give records, a 2-D numpy array or a pandas DataFrame."
        )

    def _attributes(self, uri: str) -> list[dict[str, Any]]:
        deployment = self._http.json("GET", f"{DEPLOYMENTS}/{segment(uri)}")
        return list(deployment.get("metadata", {}).get("attributes", []))

    def _single_input(self, uri: str, input_name: str | None, attributes: list[dict[str, Any]] | None) -> str:
        if input_name:
            return input_name
        names = [a["name"] for a in (attributes if attributes is not None else self._attributes(uri))]
        if len(names) != 1:
            raise ClientError(
                f"The model at {uri!r} has inputs {names}: give a DataFrame with those columns, or "
                "input_name= for the one input the rows feed."
            )
        return str(names[0])


def _matrix_batches(matrix: Any, name: str, batch_rows: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(matrix), batch_rows):
        yield [{name: _finite(matrix[start : start + batch_rows].tolist())}]


def _column_rows(values: list[Any], rank: int) -> list[Any]:
    """One column's values as rows of an input: ``[[v], ...]`` for ``[N, 1]``, ``[v, ...]`` for ``[N]``."""
    if rank == 1:
        return [_plain(v) for v in values]
    return [
        _plain(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") else [_finite(v)] for v in values
    ]


def _finite(values: Any) -> Any:
    """NaN becomes null (the service's "missing"): JSON has no NaN."""
    if isinstance(values, float):
        return None if math.isnan(values) else values
    if isinstance(values, list):
        return [_finite(v) for v in values]
    return values


def _plain(value: Any) -> Any:
    """numpy arrays and scalars inside records become lists and Python numbers."""
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return _finite(value)


def _image_bytes(image: Any) -> tuple[bytes, str]:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), "image"
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return path.read_bytes(), path.name
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue(), "image.png"
    raise ClientError(f"Cannot send a {type(image).__name__} as an image: give a path, bytes or a PIL image.")


__all__: Sequence[str] = ("Scoring",)
