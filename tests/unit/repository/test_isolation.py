"""Validation runs in a child process: its memory, crashes and hangs never reach the worker."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from omlsvc.core.errors import InvalidModel
from omlsvc.core.signature import Function, ModelType
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.isolation import IsolatedValidator
from tests import modelzoo


def crash(*args: object) -> None:
    os.abort()


def hang(*args: object) -> None:
    time.sleep(60)


def report_pid(*args: object) -> int:
    return os.getpid()


def test_a_valid_package_is_validated_in_another_process(tmp_path: Path) -> None:
    validator = IsolatedValidator()
    try:
        zoo = modelzoo.make_regressor_zip(tmp_path)
        package = validator(zoo.zip_path, ModelType.ONNX, ArchiveLimits(), tmp_path)
        assert package.spec.function is Function.REGRESSION
        assert (
            IsolatedValidator(validate=report_pid)(zoo.zip_path, ModelType.ONNX, ArchiveLimits(), tmp_path)
            != os.getpid()
        )
    finally:
        validator.close()


def test_problems_cross_the_process_boundary_with_every_detail(tmp_path: Path) -> None:
    broken = modelzoo.write_zip(tmp_path / "broken.zip", {"metadata.json": b"[]"})
    validator = IsolatedValidator()
    try:
        with pytest.raises(InvalidModel) as raised:
            validator(broken, ModelType.ONNX, ArchiveLimits(), tmp_path)
        assert len(raised.value.details) >= 2
    finally:
        validator.close()


def test_a_crash_while_loading_is_an_invalid_model_and_the_next_upload_still_works(tmp_path: Path) -> None:
    crashing = IsolatedValidator(validate=crash)
    with pytest.raises(InvalidModel, match="crashed"):
        crashing(tmp_path / "x.zip", ModelType.ONNX, ArchiveLimits(), tmp_path)
    with pytest.raises(InvalidModel, match="crashed"):
        crashing(tmp_path / "x.zip", ModelType.ONNX, ArchiveLimits(), tmp_path)
    crashing.close()


def test_validation_that_takes_too_long_is_stopped(tmp_path: Path) -> None:
    hanging = IsolatedValidator(timeout_s=1, validate=hang)
    started = time.monotonic()
    with pytest.raises(InvalidModel, match="longer than"):
        hanging(tmp_path / "x.zip", ModelType.ONNX, ArchiveLimits(), tmp_path)
    assert time.monotonic() - started < 10
    hanging.close()
