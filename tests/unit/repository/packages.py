"""Packages for the validation tests: validated through the one entry point, problems counted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from omlsvc.core.errors import InvalidModel
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.validation import ValidatedPackage, validate_package
from tests.modelzoo import (
    IMAGE_CLASSES,
    IRIS_CLASSES,
    ZooModel,
    make_image_model,
    make_tabular_model,
    zip_package,
)

LIMITS = ArchiveLimits()
CLASSIFICATION = {"function": "classification"}
IMG = ModelType.ONNX_IMG


def validated(path: Path, model_type: ModelType = ModelType.ONNX) -> ValidatedPackage:
    return validate_package(path, model_type, LIMITS, path.parent / "work")


def spec_of(zoo: ZooModel, model_type: ModelType = ModelType.ONNX) -> ScoringSpec:
    return validated(zoo.zip_path, model_type).spec


def problems_of(path: Path, model_type: ModelType = ModelType.ONNX) -> tuple[str, ...]:
    """Every problem of a package that must be refused; the message counts them."""
    with pytest.raises(InvalidModel) as raised:
        validated(path, model_type)
    count = len(raised.value.details)
    assert raised.value.message == f"The model package is invalid: {count} problem{'' if count == 1 else 's'}"
    return raised.value.details


def tabular_zip(
    directory: Path,
    outputs: Mapping[str, str],
    metadata: Mapping[str, Any],
    labels: Sequence[str] | None = None,
    classes: Sequence[str] = IRIS_CLASSES,
) -> Path:
    """A package around ``make_tabular_model``: a graph with exactly the outputs a rule needs."""
    model = make_tabular_model(outputs, classes=classes)
    return zip_package(directory, "tabular", model, metadata, labels).zip_path


def image_zip(directory: Path, outputs: Mapping[str, str], metadata: Mapping[str, Any], **model: Any) -> Path:
    labels = IMAGE_CLASSES if "probabilities" in outputs.values() else None
    return zip_package(
        directory, "image", make_image_model(outputs=outputs, **model), metadata, labels
    ).zip_path
