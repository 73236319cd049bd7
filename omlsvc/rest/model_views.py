"""The JSON shapes of models (spec sections 4.2 and 4.6), shared by the model and deployment APIs.

Pure functions from records to plain dicts; the resources add links and send them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from omlsvc.core.authorization import ModelUser
from omlsvc.core.signature import ScoringSpec, TensorInfo, ValueKind
from omlsvc.repository.rows import GrantRecord, ModelRecord


def iso_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as OML writes ``storedOn`` and ``deployedOn``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def model_view(record: ModelRecord, users: Sequence[ModelUser] | None = None) -> dict[str, Any]:
    """A model's details; ``users`` (who holds OWN or VIEW, as the caller may read them) when given."""
    view: dict[str, Any] = {
        "modelId": record.id,
        "modelName": record.name,
        "version": record.version,
        "modelType": record.model_type,
        "shared": record.shared,
        "createdBy": record.owner,
        "storedOn": iso_timestamp(record.created_at),
    }
    if record.description is not None:
        view["description"] = record.description
    if record.namespace is not None:
        view["namespace"] = record.namespace
    if record.derived_from is not None:
        view["derivedFrom"] = json.loads(record.derived_from)
    if users is not None:
        view["users"] = [{"username": u.username, "permission": u.permission} for u in users]
    return view


def grant_view(grant: GrantRecord) -> dict[str, Any]:
    return {
        "username": grant.username,
        "permission": grant.permission,
        "grantedBy": grant.granted_by,
        "grantedOn": iso_timestamp(grant.granted_at),
    }


def metadata_view(name: str, spec: ScoringSpec) -> dict[str, Any]:
    view: dict[str, Any] = {
        "modelName": name,
        "miningFunction": spec.function.value,
        "algorithm": "ONNX",
        "attributes": [_attribute(t) for t in spec.inputs],
        "outputs": [_attribute(t) for t in spec.outputs],
    }
    if spec.labels is not None:
        view["labels"] = list(spec.labels)
    return view


def _attribute(tensor: TensorInfo) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": tensor.name,
        "attributeType": tensor.element_type if tensor.kind is ValueKind.TENSOR else "UNKNOWN",
    }
    if tensor.shape is not None:
        attribute["shape"] = list(tensor.shape)
    return attribute
