"""The few HTTP calls the bench makes outside the load generator: log in, upload, deploy, score once.

Every call opens its own connection (as a new client would), so with per-worker ``SO_REUSEPORT``
sockets successive calls land on different workers; the answering worker is read from omlsvc's
``X-Omlsvc-Worker`` header.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def worker(self) -> str | None:
        return self.headers.get("x-omlsvc-worker")


def call(
    url: str,
    method: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> Answer:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        return Answer(response.status, data, {k.lower(): v for k, v in response.getheaders()}, seconds)
    finally:
        connection.close()


def multipart(fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request, as curl -F sends it."""
    boundary = f"------------------------{uuid.uuid4().hex[:16]}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class OmlClient:
    """omlsvc's REST API, as far as the bench needs it."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        body = json.dumps({"grant_type": "password", "username": username, "password": password}).encode()
        answer = call(
            f"{url}/omlusers/api/oauth2/v1/token", "POST", body, {"Content-Type": "application/json"}
        )
        if answer.status != 200:
            raise RuntimeError(f"login failed: {answer.status} {answer.body[:300]!r}")
        self.token = str(answer.json()["accessToken"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def upload(self, name: str, zip_bytes: bytes, model_type: str) -> str:
        body, content_type = multipart(
            {"modelName": name, "modelType": model_type, "version": "1.0"},
            {"modelData": ("model.zip", zip_bytes)},
        )
        answer = call(
            f"{self.url}/omlmod/v1/models", "POST", body, {**self.auth, "Content-Type": content_type}
        )
        if answer.status != 201:
            raise RuntimeError(f"upload of {name} failed: {answer.status} {answer.body[:500]!r}")
        return str(answer.json()["modelId"])

    def deploy(self, model_id: str, uri: str, **extra: object) -> Answer:
        """Deploy; ``extra`` joins the body (``batching={...}``, ``scoreTimeout=...``)."""
        body = json.dumps({"modelId": model_id, "uri": uri, **extra}).encode()
        answer = call(
            f"{self.url}/omlmod/v1/deployment",
            "POST",
            body,
            {**self.auth, "Content-Type": "application/json"},
        )
        if answer.status != 201:
            raise RuntimeError(f"deploy of {uri} failed: {answer.status} {answer.body[:500]!r}")
        return answer

    def score_url(self, uri: str) -> str:
        return f"{self.url}/omlmod/v1/deployment/{uri}/score"

    def score(self, uri: str, body: bytes, content_type: str) -> Answer:
        answer = call(self.score_url(uri), "POST", body, {**self.auth, "Content-Type": content_type})
        if answer.status != 200:
            raise RuntimeError(f"score of {uri} failed: {answer.status} {answer.body[:500]!r}")
        return answer
