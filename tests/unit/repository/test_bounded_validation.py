"""Validation refuses what could not be served within bounds: models that never end or do not fit at
once (a trial run on a dummy batch, in the isolated child under CPU and memory limits), oversized
image targets however they are declared, and label lists beyond their limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from omlsvc.core.errors import InvalidModel
from omlsvc.core.signature import Function, ModelType
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.isolation import IsolatedValidator
from omlsvc.repository.validation import validate_package
from tests import modelzoo
from tests.robustness import hostile

GIB = 1024 * 1024 * 1024


@pytest.fixture
def validator() -> Iterator[IsolatedValidator]:
    isolated = IsolatedValidator(cpu_s=20, memory_bytes=3 * GIB)
    yield isolated
    isolated.close()


def _problems(
    validate: object, zip_path: Path, model_type: ModelType, limits: ArchiveLimits, tmp: Path
) -> str:
    with pytest.raises(InvalidModel) as raised:
        validate(zip_path, model_type, limits, tmp / "work")  # type: ignore[operator]
    return " | ".join(raised.value.details)


def test_a_loop_that_never_ends_is_refused_at_upload(validator: IsolatedValidator, tmp_path: Path) -> None:
    started = time.monotonic()
    problems = _problems(
        validator,
        hostile.looping_regressor_zip(tmp_path, 10**12),
        ModelType.ONNX,
        ArchiveLimits(trial_run_s=1),
        tmp_path,
    )
    assert "running the model once on a dummy batch did not finish within 1 s" in problems
    assert time.monotonic() - started < 30


def test_a_constant_allocation_beyond_the_memory_limit_is_refused_at_upload(
    validator: IsolatedValidator, tmp_path: Path
) -> None:
    problems = _problems(
        validator,
        hostile.allocating_regressor_zip(tmp_path, 100_000),
        ModelType.ONNX,
        ArchiveLimits(),
        tmp_path,
    )
    assert "needs more memory than validation allows (OMLSVC_VALIDATION_MEMORY)" in problems


def test_a_loop_whose_length_comes_from_the_input_passes(
    validator: IsolatedValidator, tmp_path: Path
) -> None:
    package = validator(hostile.looping_regressor_zip(tmp_path), ModelType.ONNX, ArchiveLimits(), tmp_path)
    assert package.spec.function is Function.REGRESSION


def test_a_child_over_its_cpu_time_is_stopped_and_named(tmp_path: Path) -> None:
    """A node onnxruntime cannot interrupt still ends: RLIMIT_CPU kills the child."""
    validator = IsolatedValidator(cpu_s=1, memory_bytes=3 * GIB)
    try:
        problems = _problems(
            validator,
            hostile.looping_regressor_zip(tmp_path, 10**12),
            ModelType.ONNX,
            ArchiveLimits(trial_run_s=600),
            tmp_path,
        )
    finally:
        validator.close()
    assert "more than 1 s of CPU time (OMLSVC_VALIDATION_CPU_SECONDS)" in problems


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (hostile.fixed_giant_image_zip, "fixes height to 40000 on axis 2"),
        (lambda d: hostile.fixed_giant_image_zip(d, 4100, 4100), "4100x4100 (16810000 pixels"),
        (hostile.huge_target_image_zip, "8192x8192 (67108864 pixels"),
    ],
    ids=[
        "graph side over 16384",
        "graph target over the pixel limit",
        "metadata target over the pixel limit",
    ],
)
def test_image_targets_have_one_pixel_limit_whether_metadata_or_graph_sets_them(
    build: object, expected: str, tmp_path: Path
) -> None:
    problems = _problems(validate_package, build(tmp_path), ModelType.ONNX_IMG, ArchiveLimits(), tmp_path)  # type: ignore[operator]
    assert expected in problems


def test_an_image_target_within_the_limit_is_accepted(tmp_path: Path) -> None:
    zip_path = hostile.huge_target_image_zip(tmp_path, 4096)
    package = validate_package(zip_path, ModelType.ONNX_IMG, ArchiveLimits(), tmp_path / "work")
    assert package.spec.image is not None and package.spec.image.height == 4096


def test_label_txt_has_a_line_limit(tmp_path: Path) -> None:
    """300,000 short distinct labels (1.9 MB) fit the byte limit; the line limit refuses them."""
    labels = [f"{index:x}" for index in range(300_000)]
    zoo = modelzoo.make_image_classifier_zip(tmp_path, labels=labels)
    problems = _problems(validate_package, zoo.zip_path, ModelType.ONNX_IMG, ArchiveLimits(), tmp_path)
    assert "label.txt has 300000 lines; at most 100000 labels are allowed (OMLSVC_MAX_LABELS)" in problems
