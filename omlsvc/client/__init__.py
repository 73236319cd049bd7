"""A small typed Python client of an omlsvc service, over its REST API.

    from omlsvc.client import Client

    with Client("https://ml.example.com", username="ANALYST1", password="...") as client:
        model_id = client.models.push("house.zip", "house", "1.0")
        client.deployments.deploy(model_id, "house")
        client.score("house", frame)

It needs ``requests`` and ``requests-toolbelt`` only: no falcon, SQLAlchemy or onnxruntime is
imported (a test checks it), and numpy, pandas and Pillow are used when given, never imported.
"""

from __future__ import annotations

from omlsvc.client.client import Client
from omlsvc.client.errors import (
    AuthenticationError,
    ClientError,
    ConflictError,
    InvalidImageError,
    InvalidModelError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ScoringError,
    ScoringTimeoutError,
    ServerError,
    ServiceError,
    TaskFailedError,
    TokenExpiredError,
    TransportError,
    UnavailableError,
)
from omlsvc.client.tasks import Task

__all__ = [
    "AuthenticationError",
    "Client",
    "ClientError",
    "ConflictError",
    "InvalidImageError",
    "InvalidModelError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "ScoringError",
    "ScoringTimeoutError",
    "ServerError",
    "ServiceError",
    "Task",
    "TaskFailedError",
    "TokenExpiredError",
    "TransportError",
    "UnavailableError",
]
