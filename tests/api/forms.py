"""Multipart bodies as curl's ``-F`` sends them, and a shortcut to store a zoo model."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

from tests.api.conftest import Caller


def multipart(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes]], boundary: str | None = None
) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request."""
    boundary = boundary or f"------------------------{uuid.uuid4().hex[:16]}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, data) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload_model(
    caller: Caller,
    zip_path: Path | bytes,
    *,
    name: str = "model",
    version: str = "1.0",
    model_type: str = "ONNX",
    shared: str | None = None,
    namespace: str | None = None,
    description: str | None = None,
    content_type: str | None = None,
):
    """POST /omlmod/v1/models with Oracle's form fields; returns the test client's result."""
    fields = {"modelName": name, "modelType": model_type, "version": version}
    for key, value in (("shared", shared), ("namespace", namespace), ("description", description)):
        if value is not None:
            fields[key] = value
    data = zip_path if isinstance(zip_path, bytes) else zip_path.read_bytes()
    body, default_type = multipart(fields, {"modelData": ("model.zip", data)})
    return caller.post("/omlmod/v1/models", body=body, headers={"Content-Type": content_type or default_type})


def store_model(caller: Caller, zip_path: Path | bytes, **kwargs: object) -> str:
    """Store a model that must be accepted; returns its modelId."""
    result = upload_model(caller, zip_path, **kwargs)  # type: ignore[arg-type]
    assert result.status_code == 201, result.text
    return result.json["modelId"]
