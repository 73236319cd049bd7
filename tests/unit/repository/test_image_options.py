"""Issue 16's image options at store time: read from metadata.json, and no reason to skip the trial run."""

from __future__ import annotations

from pathlib import Path

import onnx

from omlsvc.core.signature import Function, ImageSpec, ModelType, ScoringSpec, TensorInfo, ValueKind
from omlsvc.repository.spec import read_metadata
from omlsvc.repository.trial import trial_run_problems
from tests import modelzoo


def test_the_options_are_read_with_their_defaults_and_in_any_case() -> None:
    metadata, problems = read_metadata(
        {
            "function": "feature_extraction",
            "resizeType": "shorter_side",
            "cropSize": 256,
            "dimensionOrder": "nhwc",
        },
        ModelType.ONNX_IMG,
    )
    assert problems == []
    assert metadata is not None and metadata.image is not None
    image = metadata.image
    assert (image.resize_type, image.crop_size, image.resize_filter) == ("SHORTER_SIDE", 256, "BILINEAR")
    assert image.dim_names == ("batch", "height", "width", "channel")
    grey, _ = read_metadata({"function": "feature_extraction", "inputChannel": "L"}, ModelType.ONNX_IMG)
    assert grey is not None and grey.image is not None and grey.image.channel == 1


def test_a_model_with_a_mean_file_still_gets_its_trial_run(tmp_path: Path) -> None:
    """The dummy batch needs no mean array, so the trial run (time and memory bounds) is not skipped:
    with no time at all it reports that the run did not finish."""
    path = tmp_path / "model.onnx"
    onnx.save(modelzoo.make_image_model(outputs={"features": "features"}), str(path))
    image = TensorInfo("image", ValueKind.TENSOR, "FLOAT", (-1, 3, 8, 8))
    spec = ScoringSpec(
        model_type=ModelType.ONNX_IMG,
        function=Function.FEATURE_EXTRACTION,
        inputs=(image,),
        outputs=(TensorInfo("features", ValueKind.TENSOR, "FLOAT", (-1, 4)),),
        output="features",
        image=ImageSpec("image", 8, 8, 3, (0.0,) * 3, (1.0,) * 3, mean_file="mean.npy"),
    )

    assert trial_run_problems(path, spec, 30.0) == []
    (problem,) = trial_run_problems(path, spec, 0.0)
    assert "did not finish" in problem
