"""``client.models``: the model repository (``/omlmod/v1/models``) and its long operations.

A push streams the zip as ``multipart/form-data`` straight from its file (requests-toolbelt's
``MultipartEncoder``): memory stays bounded whatever the model's size, and the progress callback is
called as the bytes leave. Listings are iterators that fetch page after page.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

from omlsvc.client.tasks import Task, Tasks
from omlsvc.client.transport import Http, segment

MODELS = "/omlmod/v1/models"
#: ``progress(bytes_sent, bytes_total)``, called as the upload goes out.
Progress = Callable[[int, int], None]
DOWNLOAD_CHUNK = 1024 * 1024

#: What a model can be pushed from: a path, the zip's bytes, or an open binary file.
Source = str | os.PathLike[str] | bytes | IO[bytes]


class Models:
    def __init__(self, http: Http, tasks: Tasks) -> None:
        self._http = http
        self._tasks = tasks

    def push(
        self,
        source: Source,
        name: str,
        version: str,
        *,
        model_type: str = "ONNX",
        namespace: str | None = None,
        description: str | None = None,
        shared: bool = False,
        progress: Progress | None = None,
    ) -> str:
        """Store a zipped ONNX model (validated by the service); returns its ``modelId``.

        ``model_type`` is ``ONNX`` or ``ONNX_IMG``. The file is read in small blocks as it is sent;
        ``progress(sent, total)`` follows it."""
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            with path.open("rb") as handle:
                return self._push(
                    handle, path.name, name, version, model_type, namespace, description, shared, progress
                )
        return self._push(
            source, "model.zip", name, version, model_type, namespace, description, shared, progress
        )

    def _push(
        self,
        source: bytes | IO[bytes],
        filename: str,
        name: str,
        version: str,
        model_type: str,
        namespace: str | None,
        description: str | None,
        shared: bool,
        progress: Progress | None,
    ) -> str:
        fields = {
            **_described(name, version, model_type, namespace, description),
            "shared": "true" if shared else "false",
        }
        replayable = isinstance(source, bytes) or _seekable(source)
        start = 0 if isinstance(source, bytes) or not replayable else source.tell()

        def body() -> tuple[Any, Mapping[str, str]]:
            handle = _rewound(source, start)
            encoder = MultipartEncoder(
                fields=[*fields.items(), ("modelData", (filename, handle, "application/zip"))]
            )
            data: Any = encoder
            if progress is not None:
                total = encoder.len
                data = MultipartEncoderMonitor(encoder, lambda m: progress(min(m.bytes_read, total), total))
            return data, {"Content-Type": encoder.content_type}

        answer = self._http.json("POST", MODELS, body=body if replayable else _once(body))
        return str(answer["modelId"])

    def list(
        self,
        *,
        name: str | None = None,
        version: str | None = None,
        namespace: str | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Every model the caller may see (theirs, shared, granted), page after page."""
        params = {"modelName": name, "version": version, "namespace": namespace}
        return self._http.pages(MODELS, params, page_size)

    def get(self, model_id: str) -> dict[str, Any]:
        return dict(self._http.json("GET", f"{MODELS}/{segment(model_id)}"))

    def metadata(self, model_id: str) -> dict[str, Any]:
        """The inputs, outputs, mining function and labels the service found in the model."""
        return dict(self._http.json("GET", f"{MODELS}/{segment(model_id)}/metadata"))

    def download(self, model_id: str, destination: str | os.PathLike[str] | IO[bytes] | None = None) -> Any:
        """The stored zip, byte for byte: written to ``destination`` (a path or binary file, streamed;
        returns the path or file) or, without one, returned as bytes."""
        response = self._http.call("GET", f"{MODELS}/{segment(model_id)}/content", stream=True)
        with response:
            if destination is None:
                return response.content
            if hasattr(destination, "write"):
                for block in response.iter_content(DOWNLOAD_CHUNK):
                    destination.write(block)
                return destination
            path = Path(destination)
            with path.open("wb") as handle:
                for block in response.iter_content(DOWNLOAD_CHUNK):
                    handle.write(block)
            return path

    def update(self, model_id: str, **changes: Any) -> None:
        """Change ``namespace`` and/or ``description`` (owner or admin)."""
        self._http.call("POST", f"{MODELS}/{segment(model_id)}", json_body=changes)

    def delete(self, model_id: str) -> None:
        """Remove an undeployed model (owner or admin)."""
        self._http.call("DELETE", f"{MODELS}/{segment(model_id)}")

    # -- long operations: each answers 202 with a task to poll (client.tasks) --------------------------

    def import_url(
        self,
        source_url: str,
        name: str,
        version: str,
        *,
        model_type: str = "ONNX",
        namespace: str | None = None,
        description: str | None = None,
        shared: bool = False,
        sha256: str | None = None,
        wait: bool = False,
        timeout_s: float | None = None,
    ) -> Task:
        """Have the service fetch a model zip from ``source_url`` and store it; returns the task (its
        end state when ``wait``; its ``result`` then names the model)."""
        body: dict[str, Any] = {
            **_described(name, version, model_type, namespace, description),
            "shared": shared,
            "sourceUrl": source_url,
        }
        if sha256 is not None:
            body["sha256"] = sha256
        return self._started(self._http.call("POST", MODELS, json_body=body), wait, timeout_s)

    def variants(
        self, model_id: str, kind: str, version: str, *, wait: bool = False, timeout_s: float | None = None
    ) -> Task:
        """Derive a variant of a model (``kind``, e.g. a float16 or quantised copy) stored as ``version``."""
        response = self._http.call(
            "POST", f"{MODELS}/{segment(model_id)}/variants", json_body={"kind": kind, "version": version}
        )
        return self._started(response, wait, timeout_s)

    def profile(
        self,
        model_id: str,
        *,
        batch_sizes: Sequence[int] = (1,),
        seconds: float = 5,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        wait: bool = False,
        timeout_s: float | None = None,
    ) -> Task:
        """Measure the model's latency and throughput per batch size and execution provider."""
        body = {"batchSizes": list(batch_sizes), "seconds": seconds, "providers": list(providers)}
        response = self._http.call("POST", f"{MODELS}/{segment(model_id)}/profile", json_body=body)
        return self._started(response, wait, timeout_s)

    def profiles(self, model_id: str) -> builtins.list[dict[str, Any]]:
        """The profiles measured for a model so far."""
        answer = self._http.json("GET", f"{MODELS}/{segment(model_id)}/profiles")
        return list(answer.get("items", []) if isinstance(answer, dict) else answer)

    def _started(self, response: Any, wait: bool, timeout_s: float | None) -> Task:
        task = self._tasks.started(response)
        return self._tasks.wait(task.task_id, timeout_s=timeout_s) if wait else task


def _described(
    name: str, version: str, model_type: str, namespace: str | None, description: str | None
) -> dict[str, str]:
    """What a new model is described by, in a push's form and an import's JSON alike; an absent
    namespace or description is left out, so the service's default applies."""
    fields = {"modelName": name, "version": version, "modelType": model_type}
    if namespace is not None:
        fields["namespace"] = namespace
    if description is not None:
        fields["description"] = description
    return fields


def _seekable(source: object) -> bool:
    try:
        return bool(source.seekable())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _rewound(source: bytes | IO[bytes], start: int) -> IO[bytes]:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if _seekable(source):
        source.seek(start)
    return source


def _once(body: Callable[[], tuple[Any, Mapping[str, str]]]) -> Callable[[], tuple[Any, Mapping[str, str]]]:
    """A body that can be made only once (a stream that cannot be rewound): a second request, after a
    new login, is refused rather than sent without it."""
    made = False

    def make() -> tuple[Any, Mapping[str, str]]:
        nonlocal made
        if made:
            from omlsvc.client.errors import ClientError

            raise ClientError("The upload stream cannot be rewound to send it again after a new login.")
        made = True
        return body()

    return make
