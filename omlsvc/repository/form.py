"""The text fields of a model upload (spec section 4.1), checked: what the REST form, the CLI and
the tasks that store a model all hand :meth:`omlsvc.repository.service.ModelService.store_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from omlsvc.core.errors import InvalidInput
from omlsvc.core.limits import MAX_DESCRIPTION
from omlsvc.core.patterns import MODEL_NAME, NAMESPACE, VERSION
from omlsvc.core.signature import ModelType

#: ``OML`` models live inside Oracle Database; this service stores ONNX packages only.
MODEL_TYPES = tuple(t.value for t in ModelType)


@dataclass(frozen=True)
class ModelForm:
    """The validated text fields of a model upload."""

    name: str
    version: str
    model_type: ModelType
    namespace: str | None
    description: str | None
    shared: bool


def parse_shared(value: str | None) -> bool:
    """OML's documented rule: false when missing or "false" (any case), true otherwise."""
    return value is not None and value.strip().lower() != "false"


def parse_model_form(fields: Mapping[str, str | None]) -> ModelForm:
    """Check every field of section 4.1 and report all problems in one error."""
    problems: list[str] = []
    name = fields.get("modelName")
    version = fields.get("version")
    model_type = fields.get("modelType")
    namespace = fields.get("namespace") or None
    description = fields.get("description") or None
    if not name:
        problems.append("modelName is required.")
    elif not MODEL_NAME.fullmatch(name):
        problems.append(f"modelName {name!r} must be 1 to 50 letters, digits, '_', '#' or '$'.")
    if not version:
        problems.append("version is required.")
    elif not VERSION.fullmatch(version):
        problems.append(
            f"version {version!r} must look like 1, 1.0 or 10.25 (at most two digits on each side)."
        )
    if not model_type:
        problems.append(f"modelType is required ({' or '.join(MODEL_TYPES)}).")
    elif model_type.upper() not in MODEL_TYPES:
        problems.append(f"modelType {model_type!r} is not supported here; use {' or '.join(MODEL_TYPES)}.")
    if namespace is not None and not NAMESPACE.fullmatch(namespace):
        problems.append(f"namespace {namespace!r} must be up to 50 letters, digits or '_'.")
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.append(f"description is longer than {MAX_DESCRIPTION} characters.")
    if problems:
        raise InvalidInput("The model form is invalid: " + " ".join(problems), details=problems)
    assert name and version and model_type
    return ModelForm(
        name=name,
        version=version,
        model_type=ModelType(model_type.upper()),
        namespace=namespace,
        description=description,
        shared=parse_shared(fields.get("shared")),
    )
