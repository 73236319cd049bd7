"""An image model's input (spec 8.6, 8.7): metadata.json's image fields reconciled with the 4-D input.

Messages are asserted in full: they are what a client reads in the 400 response.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from omlsvc.core.signature import Function, TensorInfo, ValueKind
from omlsvc.repository.inspect import ModelInfo
from omlsvc.repository.rules import build_spec
from omlsvc.repository.spec import ImageFields, Metadata
from tests.modelzoo import make_image_classifier_zip, make_plain_classifier_zip
from tests.unit.repository.packages import CLASSIFICATION, IMG, image_zip, problems_of, spec_of, validated

# --- image input (spec 8.6, 8.7) ---------------------------------------------------------------------


def test_an_image_model_needs_a_four_dimensional_input(tmp_path: Path) -> None:
    path = make_plain_classifier_zip(tmp_path).zip_path

    assert problems_of(path, IMG) == (
        "input 'float_input' has shape [?, 4]; ONNX_IMG inputs must have rank 4 (a 4-D image tensor)",
    )


def test_given_height_and_width_agree_with_a_fixed_input(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "height": 8, "width": 8}

    assert (
        validated(make_image_classifier_zip(tmp_path, metadata=metadata).zip_path, IMG).spec.image is not None
    )


def test_given_height_must_not_contradict_a_fixed_input(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "height": 224, "width": 224}

    assert problems_of(make_image_classifier_zip(tmp_path, metadata=metadata).zip_path, IMG) == (
        "height is 224 but the image input 'image' (shape [?, 3, 8, 8]) fixes it to 8 on axis 2 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']",
        "width is 224 but the image input 'image' (shape [?, 3, 8, 8]) fixes it to 8 on axis 3 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']",
    )


def test_height_and_width_are_required_when_the_input_does_not_fix_them(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "width": 32}

    assert problems_of(
        make_image_classifier_zip(tmp_path, fixed_size=False, metadata=metadata).zip_path, IMG
    ) == (
        "height is required: the image input 'image' (shape [?, 3, ?, ?]) does not fix it on axis 2 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']",
    )


def test_an_nhwc_model_described_as_nchw_is_caught_by_its_channel_axis(tmp_path: Path) -> None:
    zoo = make_image_classifier_zip(tmp_path, layout="NHWC", metadata=CLASSIFICATION)

    assert problems_of(zoo.zip_path, IMG) == (
        "channel is 3 but the image input 'image' (shape [?, 8, 8, 3]) has 8 on its channel axis 1 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']: set channel, or inputTensorDimNames if "
        "the layout is not NCHW",
    )


def test_a_grayscale_model_declares_one_channel(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "channel": 1, "mean": [127.5], "scale": [0.0078125]}
    path = image_zip(tmp_path, {"p": "probabilities"}, metadata, channels=1)

    image = validated(path, IMG).spec.image

    assert image is not None and (image.channel, image.mean, image.scale) == (1, (127.5,), (0.0078125,))


def test_image_field_problems_and_model_problems_are_reported_together(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "mean": [0.5], "classificationProbOutput": "Probabilities"}

    problems = problems_of(make_image_classifier_zip(tmp_path, metadata=metadata).zip_path, IMG)

    assert problems == (
        "metadata.json field 'mean' must list 3 numbers (one per channel), not [0.5]",
        "classificationProbOutput names 'Probabilities', which is not an output of the model (did you mean "
        "'probabilities'? output names are case-sensitive); its outputs are 'probabilities'",
    )


def test_an_image_input_holds_numbers() -> None:
    info = ModelInfo(
        inputs=(TensorInfo("image", ValueKind.TENSOR, "STRING", (-1, 3, 8, 8)),),
        outputs=(TensorInfo("features", ValueKind.TENSOR, "FLOAT", (-1, 4)),),
        opset=17,
    )
    metadata = Metadata(Function.FEATURE_EXTRACTION, image=ImageFields())
    problems: list[str] = []

    assert build_spec(metadata, info, None, IMG, problems) is None
    assert problems == ["the image input 'image' must hold numbers, not STRING"]


def test_the_zoo_image_spec_is_what_scoring_needs(tmp_path: Path) -> None:
    """The image spec is a plain value: scoring reads it back from the model row's JSON."""
    spec = spec_of(make_image_classifier_zip(tmp_path, channel_order="BGR"), IMG)

    assert spec.image is not None
    assert dataclasses.asdict(spec.image)["input_channel"] == "BGR"
