"""Tensors by name (issue 16): what a graph lists, which names a request may give, how values render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from omlsvc.core.errors import InvalidInput, ResponseTooLarge
from omlsvc.core.limits import MAX_OUTPUT_TENSORS, MAX_TENSOR_NAME
from omlsvc.scoring.image_spec import resized_size
from omlsvc.scoring.tensors import (
    INPUT,
    INTERMEDIATE,
    OUTPUT,
    describe_tensors,
    parse_tensor_names,
    tensor_answer,
    write_extended_model,
)
from tests import modelzoo


def saved(tmp_path: Path, model: onnx.ModelProto) -> Path:
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


def test_a_graph_lists_its_inputs_intermediates_and_outputs_with_inferred_types(tmp_path: Path) -> None:
    model = modelzoo.make_tabular_model({"probabilities": "probabilities", "label": "predicted"})

    listing = describe_tensors(saved(tmp_path, model))

    kinds = {t.name: (t.kind, t.element_type, t.shape, t.producer) for t in listing.tensors}
    assert kinds["float_input"] == (INPUT, "FLOAT", (-1, modelzoo.FEATURES), None)
    assert kinds["scores_out"] == (INTERMEDIATE, "FLOAT", (-1, 3), "MatMul")
    assert kinds["label"][0] == OUTPUT and kinds["label"][1] == "INT64"
    assert "weights" not in kinds
    assert listing.output_names == ("probabilities", "label")


def test_a_sequence_of_maps_is_listed_but_not_returnable(tmp_path: Path) -> None:
    model = modelzoo.make_tabular_model({"label": "predicted", "maps": "prob_maps"})

    listing = describe_tensors(saved(tmp_path, model))

    maps = listing.find("maps")
    assert maps is not None and not maps.returnable
    assert listing.check(["maps"], "outputTensors") == [
        "outputTensors: 'maps' is not a tensor of numbers, strings or booleans (a sequence or map cannot be "
        "returned)"
    ]


def test_the_extended_model_returns_the_added_values_and_leaves_the_original(tmp_path: Path) -> None:
    import onnxruntime as ort

    path = saved(tmp_path, modelzoo.make_tabular_model({"probabilities": "probabilities"}))
    before = path.read_bytes()

    extended = write_extended_model(path, ["scores_out", "probabilities"])

    assert extended.parent == path.parent and path.read_bytes() == before
    session = ort.InferenceSession(str(extended), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities", "scores_out"]


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "x",
        [1],
        [""],
        ["a" * (MAX_TENSOR_NAME + 1)],
        [f"t{i}" for i in range(MAX_OUTPUT_TENSORS + 1)],
    ],
)
def test_tensor_names_are_a_bounded_list_of_names(value: object) -> None:
    with pytest.raises(InvalidInput, match="outputTensors"):
        parse_tensor_names(value)


def test_values_render_row_major_with_their_onnx_type() -> None:
    arrays = {
        "f": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        "i": np.array([[1], [2]], dtype=np.int64),
        "s": np.array(["a", "b"], dtype=object),
    }

    answer = tensor_answer(arrays, ["i", "f", "s"], limit=None)

    assert answer == [
        {"name": "i", "shape": [2, 1], "datatype": "INT64", "data": [1, 2]},
        {"name": "f", "shape": [2, 3], "datatype": "FLOAT", "data": [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]},
        {"name": "s", "shape": [2], "datatype": "STRING", "data": ["a", "b"]},
    ]
    with pytest.raises(ResponseTooLarge):
        tensor_answer(arrays, ["f"], limit=11)


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [
        ("CROP", (40, 20), (20, 10)),  # landscape covers 12 x 10: height decides
        ("CROP", (20, 40), (12, 24)),  # portrait: width decides
        ("FILL", (40, 20), (12, 6)),  # fits: width decides
        ("FILL", (20, 40), (5, 10)),
        ("SHORTER_SIDE", (40, 20), (32, 16)),  # torchvision: int(16 * 40 / 20)
        ("SHORTER_SIDE", (21, 40), (16, 30)),  # int(16 * 40 / 21) = 30
    ],
)
def test_resize_geometry(mode: str, size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert resized_size(mode, *size, 12, 10, 16) == expected
