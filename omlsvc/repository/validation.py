"""Validation of an uploaded model package: every rule, every problem, one answer.

The order follows ARCHITECTURE (Validation at store time): zip safety (``archive``), metadata.json
(``spec``), label.txt (``labels``), the ONNX graph (``inspect``: checker, opset, input ranks, one
CPU session), and last the function rules of spec sections 8.2-8.7 (``rules``) that tie the metadata
to the graph and decide the :class:`ScoringSpec`. Each step goes as far as it can despite earlier
problems, so that :class:`InvalidModel` lists everything wrong with a package, not just the first
thing. This module runs the steps and turns what they found into the one answer.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidModel
from omlsvc.core.limits import MAX_MEAN_FILE_BYTES
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.repository.archive import ArchiveLimits, ModelPackage, open_package
from omlsvc.repository.external_data import external_data_locations, read_model_proto
from omlsvc.repository.inspect import ModelInfo, external_data_problems, inspect_model
from omlsvc.repository.labels import parse_labels
from omlsvc.repository.layout import LABELS_NAME, METADATA_NAME
from omlsvc.repository.rules import build_spec
from omlsvc.repository.spec import MEAN_FILE, Metadata, parse_metadata_json, read_metadata
from omlsvc.repository.trial import trial_run_problems


@dataclass(frozen=True)
class ValidatedPackage:
    """A package that passed every rule: what the repository stores beside the zip itself.

    ``metadata`` is metadata.json as parsed; ``labels`` the lines of label.txt when present (whether
    or not they are the label source); ``onnx_name`` the model's file name inside the package.
    """

    spec: ScoringSpec
    metadata: dict[str, Any]
    labels: tuple[str, ...] | None
    onnx_name: str


def validate_package(
    zip_path: Path, model_type: ModelType, limits: ArchiveLimits, workdir: Path
) -> ValidatedPackage:
    """Check the package at ``zip_path`` against spec sections 7 and 8 and derive its ScoringSpec.

    The model and its external data are extracted into a private folder under ``workdir`` (removed
    afterwards) so that onnxruntime can load it from a path, and, when every rule passed, run it
    once on a dummy batch within ``limits.trial_run_s`` (``trial``). Raises :class:`InvalidModel`
    whose ``details`` list every problem found.
    """
    problems: list[str] = []
    workdir.mkdir(parents=True, exist_ok=True)
    model_dir = Path(tempfile.mkdtemp(prefix="validate-", dir=workdir))
    try:
        with open_package(zip_path, limits) as package:
            problems += package.problems
            document = _read_metadata_document(package, limits, problems)
            metadata = _read_metadata(document, model_type, problems)
            labels = _read_labels(package, limits, problems)
            mean_shape = _read_mean_file(package, metadata, limits, problems)
            info = _inspect(package, model_type, model_dir, problems)
        # An unreadable label.txt (over its limit, corrupt) already has its problem; the function rules
        # would only add a misleading "label.txt is required".
        unreadable_labels = labels is None and LABELS_NAME in package.files
        spec = None
        if metadata is not None and info is not None and not unreadable_labels:
            spec = build_spec(
                metadata,
                info,
                labels,
                model_type,
                problems,
                max_target_pixels=limits.max_image_target_pixels,
                mean_shape=mean_shape,
            )
        if not problems and spec is not None and package.onnx_name is not None:
            problems += trial_run_problems(model_dir / package.onnx_name, spec, limits.trial_run_s)
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    if problems or spec is None or document is None or package.onnx_name is None:
        count = len(problems)
        raise InvalidModel(
            f"The model package is invalid: {count} problem{'' if count == 1 else 's'}", details=problems
        )
    return ValidatedPackage(spec=spec, metadata=document, labels=labels, onnx_name=package.onnx_name)


# --- reading the package -------------------------------------------------------------------------


def _read_metadata_document(
    package: ModelPackage, limits: ArchiveLimits, problems: list[str]
) -> dict[str, Any] | None:
    if METADATA_NAME not in package.files:
        return None  # the archive scan reported it
    try:
        data = package.read(METADATA_NAME, limits.max_metadata_bytes)
    except InvalidModel as exc:
        problems += exc.details
        return None
    document, found = parse_metadata_json(data)
    problems += found
    return document


def _read_metadata(
    document: dict[str, Any] | None, model_type: ModelType, problems: list[str]
) -> Metadata | None:
    if document is None:
        return None
    metadata, found = read_metadata(document, model_type)
    problems += found
    return metadata


def _read_mean_file(
    package: ModelPackage, metadata: Metadata | None, limits: ArchiveLimits, problems: list[str]
) -> tuple[int, ...] | None:
    """The shape of the ``meanFile`` array (issue 16), or None with the problem added: the file must be
    in the archive and hold a plain numeric ``.npy`` array of finite values."""
    name = None if metadata is None or metadata.image is None else metadata.image.mean_file
    if name is None:
        return None
    field = f"{METADATA_NAME} field {MEAN_FILE!r}"
    if name not in package.files:
        problems.append(f"{field}: {name!r} is not in the archive")
        return None
    try:
        data = package.read(name, MAX_MEAN_FILE_BYTES)
    except InvalidModel as exc:
        problems += [f"{field}: {detail}" for detail in exc.details or [exc.message]]
        return None
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:
        problems.append(f"{field}: {name!r} is not a .npy array (pickled objects are refused)")
        return None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        problems.append(f"{field}: {name!r} must hold finite numbers")
        return None
    return tuple(int(d) for d in array.shape)


def _read_labels(package: ModelPackage, limits: ArchiveLimits, problems: list[str]) -> tuple[str, ...] | None:
    if LABELS_NAME not in package.files:
        return None
    try:
        data = package.read(LABELS_NAME, limits.max_label_bytes)
    except InvalidModel as exc:
        problems += exc.details
        return None
    labels, found = parse_labels(data)
    problems += found
    if len(labels) > limits.max_labels:
        problems.append(
            f"{LABELS_NAME} has {len(labels)} lines; at most {limits.max_labels} labels are allowed "
            "(OMLSVC_MAX_LABELS)"
        )
        return None
    return labels


def _inspect(
    package: ModelPackage, model_type: ModelType, model_dir: Path, problems: list[str]
) -> ModelInfo | None:
    """Extract the model (and its external data, once proven safe) into the private ``model_dir``
    and inspect it there; the caller removes the folder."""
    if package.onnx_name is None:
        return None  # the archive scan reported why
    try:
        onnx_path = model_dir / package.onnx_name
        package.extract([package.onnx_name], model_dir)
        model = read_model_proto(onnx_path)
        unsafe = external_data_problems(model, package.files)
        if unsafe:
            problems += unsafe
            return None
        package.extract(external_data_locations(model), model_dir)
        info, found = inspect_model(onnx_path, model, model_type)
        problems += found
        return info
    except InvalidModel as exc:
        problems += exc.details
        return None
