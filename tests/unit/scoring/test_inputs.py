"""inputRecords -> feeds: the fast path, coercion, and every refusal naming its record and input."""

from __future__ import annotations

import base64
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto

from omlsvc.core.errors import InvalidImage, InvalidInput, PayloadTooLarge
from omlsvc.scoring.images import ImagePreprocessor
from omlsvc.scoring.inputs import Feeds, InputConverter, InputLimits
from tests.unit.scoring.builders import BuiltModel, encode, gradient_image, make_typed_identity


def converter(model: BuiltModel, **limits: int) -> InputConverter:
    return InputConverter(model.spec, InputLimits(**limits))


# -- well-formed input ---------------------------------------------------------------------------


def test_records_are_concatenated_in_order(regressor: BuiltModel) -> None:
    records = [{"X": [[1, 2, 3]]}, {"X": [[4, 5, 6], [7, 8, 9]]}, {"X": [[0.5, 0.25, 0.125]]}]

    feeds = converter(regressor).convert(records)

    expected = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0.5, 0.25, 0.125]], np.float32)
    np.testing.assert_array_equal(feeds.arrays["X"], expected)
    assert feeds.arrays["X"].dtype == np.float32
    assert feeds.rows == 4
    assert feeds.row_counts == (1, 2, 1)
    assert feeds.record_of_rows() == [0, 1, 1, 2]


def test_feeds_score_like_the_same_arrays_given_to_onnxruntime(regressor: BuiltModel) -> None:
    rows = [[0.1, 0.2, 0.3], [1.0, -1.0, 2.0]]
    feeds = converter(regressor).convert([{"X": rows}])
    session = regressor.session()
    ours = session.run(None, feeds.arrays)[0]
    direct = session.run(None, {"X": np.array(rows, np.float32)})[0]
    np.testing.assert_array_equal(ours, direct)


def test_float_inputs_accept_numeric_strings_null_and_booleans(regressor: BuiltModel) -> None:
    feeds = converter(regressor).convert([{"X": [["5", "NaN", " 2.5 "]]}, {"X": [[None, True, "-inf"]]}])
    array = feeds.arrays["X"]
    assert array[0, 0] == 5.0 and math.isnan(array[0, 1]) and array[0, 2] == 2.5
    assert math.isnan(array[1, 0]) and array[1, 1] == 1.0 and array[1, 2] == -np.inf


def test_explicit_infinity_is_kept(regressor: BuiltModel) -> None:
    feeds = converter(regressor).convert([{"X": [["inf", 1, 2]]}])
    assert feeds.arrays["X"][0, 0] == np.inf


def test_mixed_rows_take_the_slow_path_and_still_convert(regressor: BuiltModel) -> None:
    # a record whose values are numbers and a record whose values are strings
    feeds = converter(regressor).convert([{"X": [[1, 2, 3]]}, {"X": [["4", "5", "6"]]}])
    np.testing.assert_array_equal(feeds.arrays["X"], np.array([[1, 2, 3], [4, 5, 6]], np.float32))


def test_multi_input_records(multi_input: BuiltModel) -> None:
    records = [
        {"colour": [["red"], ["blue"]], "size": [[1.0, 2.0], [3.0, 4.0]]},
        {"size": [["0.5", "0"]], "colour": [[7]]},  # key order is free; an int category becomes "7"
    ]
    feeds = converter(multi_input).convert(records)
    assert feeds.arrays["colour"].dtype == object
    assert feeds.arrays["colour"].tolist() == [["red"], ["blue"], ["7"]]
    np.testing.assert_array_equal(feeds.arrays["size"], np.array([[1, 2], [3, 4], [0.5, 0]], np.float32))
    assert feeds.row_counts == (2, 1)


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltModel]:
    folder = tmp_path_factory.mktemp("typed")
    return {
        "INT64": make_typed_identity(folder, TensorProto.INT64, "int64"),
        "INT8": make_typed_identity(folder, TensorProto.INT8, "int8"),
        "UINT8": make_typed_identity(folder, TensorProto.UINT8, "uint8"),
        "BOOL": make_typed_identity(folder, TensorProto.BOOL, "bool"),
        "DOUBLE": make_typed_identity(folder, TensorProto.DOUBLE, "double"),
        "FLOAT16": make_typed_identity(folder, TensorProto.FLOAT16, "float16"),
    }


@pytest.mark.parametrize(
    ("element_type", "value", "expected"),
    [
        ("INT64", [[1, 2], [3, 4]], [[1, 2], [3, 4]]),
        ("INT64", [[1.0, "2"], [" 3 ", "4.0"]], [[1, 2], [3, 4]]),
        ("INT64", [[True, False]], [[1, 0]]),
        ("INT64", [[2**62, -(2**62)]], [[2**62, -(2**62)]]),
        ("INT8", [[-128, 127]], [[-128, 127]]),
        ("UINT8", [[0, 255]], [[0, 255]]),
        ("BOOL", [[True, False]], [[True, False]]),
        ("BOOL", [[1, 0], ["true", "FALSE"], ["1", "0"]], [[True, False], [True, False], [True, False]]),
        ("DOUBLE", [[0.1, "1e300"]], [[0.1, 1e300]]),
        ("FLOAT16", [[1.5, "-2"]], [[1.5, -2.0]]),
    ],
)
def test_values_are_coerced_to_the_element_type(
    typed: dict[str, BuiltModel], element_type: str, value: list[Any], expected: list[Any]
) -> None:
    model = typed[element_type]
    feeds = converter(model).convert([{"x": value}])
    array = feeds.arrays["x"]
    assert array.tolist() == expected
    # onnxruntime accepts the array as is (it refuses a wrong dtype), and returns it unchanged
    np.testing.assert_array_equal(model.session().run(None, feeds.arrays)[0], array)


@pytest.mark.parametrize(
    ("element_type", "value", "message"),
    [
        ("INT64", [[1.5, 2]], "row 0, column 0: 1.5 is not an integer"),
        ("INT64", [["1.5", 2]], "'1.5' is not an integer"),
        ("INT64", [[None, 2]], "null is not an integer"),
        ("INT64", [["NaN", 2]], "'NaN' is not an integer"),
        ("INT64", [[2**70, 2]], "out of range for INT64"),
        ("INT8", [[1, 128]], "row 0, column 1: 128 is out of range for INT8"),
        ("UINT8", [[-1, 0]], "-1 is out of range for UINT8"),
        ("BOOL", [[2, 0]], "2 is not a boolean"),
        ("BOOL", [["yes", 0]], "'yes' is not a boolean"),
        ("FLOAT16", [[1e6, 0]], "1000000.0 is out of range for FLOAT16"),
    ],
)
def test_values_that_do_not_fit_the_element_type_are_refused(
    typed: dict[str, BuiltModel], element_type: str, value: list[Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        converter(typed[element_type]).convert([{"x": [[0, 0]]}, {"x": value}])
    assert caught.value.message.startswith("record 1, input 'x': ")
    assert message in caught.value.message


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"X": [[1, 2, 3]], "Y": [[1]]}], "record 0: unknown input 'Y' (the model's inputs are 'X')"),
        ([{"x": [[1, 2, 3]]}], "record 0: unknown input 'x'; missing input 'X'"),
        ([{"X": [[1, 2, 3]]}, {}], "record 1: missing input 'X'"),
        ([{"X": [1, 2, 3]}], "record 0, input 'X': row 0 is the number 1, expected an array"),
        (
            [{"X": [[[1, 2, 3]]]}],
            "record 0, input 'X': row 0 has 1 values but the model input is shaped [N, 3]",
        ),
        ([{"X": [[1, 2]]}], "record 0, input 'X': row 0 has 2 values but the model input is shaped [N, 3]"),
        ([{"X": [[1, 2, 3], [1, 2, 3, 4]]}], "record 0, input 'X': row 1 has 4 values but"),
        ([{"X": [[1, [2], 3]]}], "record 0, input 'X': row 0, column 1: an array is not a number"),
        ([{"X": [[1, {"a": 2}, 3]]}], "record 0, input 'X': row 0, column 1: an object is not a number"),
        ([{"X": [[1, "abc", 3]]}], "record 0, input 'X': row 0, column 1: 'abc' is not a number"),
        ([{"X": [[1, 2, "1e39"]]}], "row 0, column 2: '1e39' is out of range for FLOAT"),
        ([{"X": [[1, 2, 1e39]]}], "row 0, column 2: 1e+39 is out of range for FLOAT"),
        ([{"X": "1,2,3"}], "record 0, input 'X': expected a 2-D array shaped [N, 3]"),
        ([{"X": {"a": 1}}], "record 0, input 'X': expected a 2-D array shaped [N, 3] (rows first"),
        ([{"X": 5}], "got the number 5"),
        ([{"X": None}], "got null"),
        ([{"X": []}], "record 0, input 'X': the array has no rows"),
        ([{"X": [[]]}], "record 0, input 'X': row 0 is empty"),
        ([{"X": [[1, 2, 3]]}, [1, 2, 3]], "record 1 is an array, not an object"),
        ([{"X": [[1, 2, 3]]}, "X"], "record 1 is the string 'X', not an object"),
    ],
)
def test_malformed_records_are_refused_naming_record_and_input(
    regressor: BuiltModel, records: list[Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        converter(regressor).convert(records)
    assert message in caught.value.message
    assert type(caught.value) is InvalidInput


@pytest.mark.parametrize("records", [[], {"X": [[1, 2, 3]]}, None, "records"])
def test_input_records_must_be_a_non_empty_array(regressor: BuiltModel, records: Any) -> None:
    with pytest.raises(InvalidInput, match="inputRecords"):
        converter(regressor).convert(records)


def test_inputs_of_a_record_must_have_the_same_number_of_rows(multi_input: BuiltModel) -> None:
    records = [{"colour": [["red"], ["blue"]], "size": [[1.0, 2.0]]}]
    with pytest.raises(InvalidInput) as caught:
        converter(multi_input).convert(records)
    assert caught.value.message == (
        "record 0: input 'colour' has 2 rows but input 'size' has 1; "
        "every input of a record must have the same number of rows"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[1.5]], "row 0, column 0: 1.5 is not a string (STRING input)"),
        ([[None]], "null is not a string"),
        ([[True]], "true is not a string"),
        ([["red", "blue"]], "row 0 has 2 values but the model input is shaped [N, 1]"),
        ([[["red"]]], "row 0, column 0: an array is not a string"),
    ],
)
def test_string_inputs_are_strict(multi_input: BuiltModel, value: list[Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        converter(multi_input).convert([{"colour": value, "size": [[1, 2]]}])
    assert caught.value.message.startswith("record 0, input 'colour': ")
    assert message in caught.value.message


def test_dynamic_width_must_agree_across_records(tmp_path: Path) -> None:
    model = make_typed_identity(tmp_path, TensorProto.FLOAT, "dynamic", width=2)
    spec = model.spec
    open_width = dataclasses.replace(spec, inputs=(dataclasses.replace(spec.inputs[0], shape=(-1, -1)),))
    convert = InputConverter(open_width).convert
    assert convert([{"x": [[1, 2, 3]]}, {"x": [[4, 5, 6]]}]).arrays["x"].shape == (2, 3)
    with pytest.raises(
        InvalidInput, match="input 'x': record 0 has rows shaped \\[3\\] but record 1 has \\[2\\]"
    ):
        convert([{"x": [[1, 2, 3]]}, {"x": [[4, 5]]}])


def test_row_limit(regressor: BuiltModel) -> None:
    convert = converter(regressor, max_rows=3).convert
    assert convert([{"X": [[1, 2, 3]] * 2}, {"X": [[1, 2, 3]]}]).rows == 3
    with pytest.raises(PayloadTooLarge, match="more than 3 rows"):
        convert([{"X": [[1, 2, 3]] * 2}, {"X": [[1, 2, 3]] * 2}])
    with pytest.raises(PayloadTooLarge, match="more than 3 rows"):
        convert([{"X": [[1, 2, 3]]}] * 4)


def test_dummy_feeds(multi_input: BuiltModel, image_nhwc: BuiltModel) -> None:
    feeds = InputConverter(multi_input.spec).dummy_feeds()
    assert feeds.rows == 1
    assert feeds.arrays["colour"].tolist() == [[""]]
    np.testing.assert_array_equal(feeds.arrays["size"], np.zeros((1, 2), np.float32))
    image = InputConverter(image_nhwc.spec).dummy_feeds().arrays["image"]
    assert image.shape == (1, 16, 16, 3) and image.dtype == np.float32 and not image.any()


# -- image models --------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_base64_images_make_a_batch(image_nchw: BuiltModel) -> None:
    first, second = encode(gradient_image(40, 30), "PNG"), encode(gradient_image(20, 25, seed=3), "JPEG")
    image_input = InputConverter(image_nchw.spec)

    feeds = image_input.convert([{"image": b64(first)}, {"image": b64(second)}])

    preprocessor = ImagePreprocessor(image_nchw.spec.image)  # type: ignore[arg-type]
    expected = np.concatenate([preprocessor.preprocess(first), preprocessor.preprocess(second)])
    np.testing.assert_array_equal(feeds.arrays["image"], expected)
    assert feeds.rows == 2 and feeds.row_counts == (1, 1)
    np.testing.assert_array_equal(image_input.convert_image_bytes([first, second]).arrays["image"], expected)


def test_processed_arrays_pass_through(image_nchw: BuiltModel, image_nhwc: BuiltModel) -> None:
    pixels = np.random.default_rng(1).normal(size=(2, 3, 16, 16))
    png = encode(gradient_image(16, 16), "PNG")

    feeds = InputConverter(image_nchw.spec).convert([{"image": pixels.tolist()}, {"image": b64(png)}])

    assert feeds.arrays["image"].dtype == np.float32
    np.testing.assert_array_equal(feeds.arrays["image"][:2], pixels.astype(np.float32))
    assert feeds.rows == 3 and feeds.row_counts == (2, 1)
    nhwc = InputConverter(image_nhwc.spec).convert([{"image": pixels.transpose(0, 2, 3, 1).tolist()}])
    assert nhwc.arrays["image"].shape == (2, 16, 16, 3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            np.zeros((1, 16, 16, 3)).tolist(),
            "a 4-D array shaped [1, 16, 16, 3] does not match the model input [N, 3, 16, 16]",
        ),
        (np.zeros((3, 16, 16)).tolist(), "a 3-D array shaped [3, 16, 16] does not match"),
        ([[[[1, 2], [3]]]], "the array must be a 4-D array of numbers shaped [N, 3, 16, 16]"),
        ([[[["a"]]]], "the array must be a 4-D array of numbers"),
        (
            5,
            "expected a base64 string of an image file, a 4-D array of pixel values or "
            '{"imageUrl": "..."}, got the number 5',
        ),
        ({"data": "x"}, "unknown property 'data' of an image reference (it takes 'imageUrl' only)"),
        ({"imageUrl": "https://example.com/a.png"}, "imageUrl is not enabled on this service"),
    ],
)
def test_image_records_are_checked(image_nchw: BuiltModel, value: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        InputConverter(image_nchw.spec).convert([{"image": value}])
    assert caught.value.message.startswith("record 0, input 'image': ")
    assert message in caught.value.message


def test_bad_images_name_their_record(image_nchw: BuiltModel) -> None:
    good = b64(encode(gradient_image(16, 16), "PNG"))
    convert = InputConverter(image_nchw.spec).convert
    with pytest.raises(InvalidImage, match=r"^record 1, input 'image': image data is not valid base64$"):
        convert([{"image": good}, {"image": "%%%"}])
    with pytest.raises(
        InvalidImage, match=r"^record 1, input 'image': image data is not a supported image file$"
    ):
        convert([{"image": good}, {"image": b64(b"hello world")}])
    with pytest.raises(InvalidInput, match="record 0: unknown input 'input_1'; missing input 'image'"):
        convert([{"input_1": good}])


def test_image_limits(image_nchw: BuiltModel) -> None:
    good = b64(encode(gradient_image(16, 16), "PNG"))
    image_input = InputConverter(image_nchw.spec, InputLimits(max_images=2, max_rows=3))
    assert image_input.convert([{"image": good}] * 2).rows == 2
    with pytest.raises(PayloadTooLarge, match="at most 2 images"):
        image_input.convert([{"image": good}] * 3)
    with pytest.raises(PayloadTooLarge, match="at most 2 images"):
        image_input.convert_image_bytes([b"x"] * 3)
    with pytest.raises(PayloadTooLarge, match="more than 3 rows"):
        image_input.convert([{"image": np.zeros((4, 3, 16, 16)).tolist()}])


def test_image_bytes_errors(image_nchw: BuiltModel, regressor: BuiltModel) -> None:
    image_input = InputConverter(image_nchw.spec)
    with pytest.raises(InvalidImage, match=r"^image data is not a supported image file$"):
        image_input.convert_image_bytes([b"nope"])
    with pytest.raises(InvalidImage, match=r"^image 1: image data is empty$"):
        image_input.convert_image_bytes([encode(gradient_image(8, 8), "PNG"), b""])
    with pytest.raises(InvalidInput, match="no image"):
        image_input.convert_image_bytes([])
    with pytest.raises(InvalidInput, match="does not take images"):
        InputConverter(regressor.spec).convert_image_bytes([b"x"])


def test_feeds_is_a_plain_value() -> None:
    feeds = Feeds({"x": np.zeros((2, 1))}, 2, (2,))
    assert feeds.record_of_rows() == [0, 0]
