"""The ONNX side of a package: a sound graph that loads here, and its signature in our words.

Inputs and outputs become :class:`TensorInfo` values (element types named as in ``ELEMENT_TYPES``,
dynamic dimensions as -1, skl2onnx's ZipMap output as a sequence of maps); the graph's own class
labels are found where a ZipMap or classifier node holds them; the rank rules of spec section 8.6
apply to inputs; and the model must pass the ONNX checker, use opsets the installed onnxruntime
knows, and load in a CPU session.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from omlsvc.core.signature import ModelType, TensorInfo, ValueKind
from omlsvc.repository.external_data import read_model_proto
from omlsvc.repository.inspect import (
    ModelInfo,
    external_data_problems,
    input_problems,
    inspect_model,
    onnxruntime_message,
    signature,
    supported_opsets,
)
from tests.modelzoo import (
    IR_VERSION,
    OPSET,
    make_external_data_zip,
    make_gmm_zip,
    make_image_model,
    make_kmeans_zip,
    make_multi_input_pipeline_zip,
    make_plain_classifier_zip,
    make_regressor_zip,
    make_tabular_model,
    make_zipmap_classifier_zip,
)


def inspect(
    tmp_path: Path, model: onnx.ModelProto | bytes, model_type: ModelType = ModelType.ONNX
) -> tuple[ModelInfo, list[str]]:
    """Write the model where inspect_model expects it (an extracted package) and inspect it."""
    path = tmp_path / "model.onnx"
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return inspect_model(path, read_model_proto(path), model_type)


def inspected(
    tmp_path: Path, model: onnx.ModelProto | bytes, model_type: ModelType = ModelType.ONNX
) -> ModelInfo:
    info, problems = inspect(tmp_path, model, model_type)
    assert problems == []
    return info


def graph_model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    opsets: dict[str, int] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs)
    imports = [helper.make_opsetid(domain, version) for domain, version in (opsets or {"": OPSET}).items()]
    return helper.make_model(graph, opset_imports=imports, ir_version=IR_VERSION)


def float_info(name: str, shape: list[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


# --- signatures of real models ---------------------------------------------------------------------


def test_a_regressor_has_one_float_matrix_in_and_out(tmp_path: Path) -> None:
    info = inspected(tmp_path, make_regressor_zip(tmp_path).onnx_bytes)

    assert info.inputs == (TensorInfo("float_input", ValueKind.TENSOR, "FLOAT", (-1, 3)),)
    (output,) = info.outputs
    assert (output.kind, output.element_type, output.shape) == (ValueKind.TENSOR, "FLOAT", (-1, 1))
    assert info.opset == OPSET


def test_zipmap_probabilities_are_a_sequence_of_maps(tmp_path: Path) -> None:
    info = inspected(tmp_path, make_zipmap_classifier_zip(tmp_path).onnx_bytes)

    assert info.outputs == (
        TensorInfo("output_label", ValueKind.TENSOR, "STRING", (-1,)),
        TensorInfo("output_probability", ValueKind.SEQUENCE_OF_MAPS, "FLOAT", None, key_type="STRING"),
    )


def test_zipmap_with_integer_classes_has_int64_keys(tmp_path: Path) -> None:
    info = inspected(tmp_path, make_tabular_model({"maps": "int_prob_maps"}))

    assert info.outputs == (TensorInfo("maps", ValueKind.SEQUENCE_OF_MAPS, "FLOAT", None, key_type="INT64"),)


def test_a_pipeline_with_two_inputs_lists_both(tmp_path: Path) -> None:
    info = inspected(tmp_path, make_multi_input_pipeline_zip(tmp_path).onnx_bytes)

    assert info.inputs == (
        TensorInfo("cat", ValueKind.TENSOR, "STRING", (-1, 1)),
        TensorInfo("num", ValueKind.TENSOR, "FLOAT", (-1, 2)),
    )


def test_gaussian_mixture_labels_are_a_column_and_kmeans_labels_a_vector(tmp_path: Path) -> None:
    """The ARCHITECTURE pitfall: skl2onnx gives GaussianMixture [N, 1] labels and KMeans [N]."""
    gmm = {o.name: o.shape for o in inspected(tmp_path, make_gmm_zip(tmp_path).onnx_bytes).outputs}
    kmeans = {o.name: o.shape for o in inspected(tmp_path, make_kmeans_zip(tmp_path).onnx_bytes).outputs}

    assert (gmm["label"], gmm["probabilities"]) == ((-1, 1), (-1, 3))
    assert (kmeans["label"], kmeans["scores"]) == ((-1,), (-1, 3))


# --- signature details ------------------------------------------------------------------------------


def test_named_and_missing_dimensions_are_dynamic() -> None:
    model = graph_model(
        [helper.make_node("Identity", ["x"], ["y"])],
        [float_info("x", ["batch", None, 5])],
        [float_info("y", ["batch", None, 5])],
    )

    inputs, outputs = signature(model)

    assert inputs[0].shape == outputs[0].shape == (-1, -1, 5)


@pytest.mark.parametrize(
    ("element_type", "name"),
    [
        (TensorProto.DOUBLE, "DOUBLE"),
        (TensorProto.INT64, "INT64"),
        (TensorProto.UINT8, "UINT8"),
        (TensorProto.BOOL, "BOOL"),
        (TensorProto.STRING, "STRING"),
        (TensorProto.FLOAT16, "FLOAT16"),
        (TensorProto.COMPLEX64, "UNKNOWN"),
        (TensorProto.FLOAT8E4M3FN, "UNKNOWN"),
    ],
)
def test_element_types_are_named_as_the_metadata_endpoint_names_them(element_type: int, name: str) -> None:
    model = graph_model(
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", element_type, [None, 2])],
        [helper.make_tensor_value_info("y", element_type, [None, 2])],
    )

    assert signature(model)[0][0].element_type == name


def test_initializers_listed_as_inputs_are_not_inputs() -> None:
    """Models written for IR < 4 list every initializer among the graph inputs."""
    model = graph_model(
        [helper.make_node("Add", ["x", "bias"], ["y"])],
        [float_info("x", [None, 2]), float_info("bias", [2])],
        [float_info("y", [None, 2])],
    )
    model.graph.initializer.append(helper.make_tensor("bias", TensorProto.FLOAT, [2], [1.0, 2.0]))

    assert [t.name for t in signature(model)[0]] == ["x"]


def test_sequences_of_tensors_are_other_values() -> None:
    model = graph_model(
        [helper.make_node("SequenceConstruct", ["x"], ["y"])],
        [float_info("x", [None, 2])],
        [helper.make_tensor_sequence_value_info("y", TensorProto.FLOAT, [None, 2])],
    )

    assert signature(model)[1] == (TensorInfo("y", ValueKind.OTHER, "UNKNOWN", None),)


# --- class labels held by the graph ------------------------------------------------------------------


def test_zipmap_class_labels_belong_to_its_output(tmp_path: Path) -> None:
    info = inspected(tmp_path, make_zipmap_classifier_zip(tmp_path).onnx_bytes)

    assert info.class_labels["output_probability"] == ("setosa", "versicolor", "virginica")


def test_integer_class_labels_are_rendered_as_strings(tmp_path: Path) -> None:
    info = inspected(tmp_path, make_plain_classifier_zip(tmp_path).onnx_bytes)

    assert info.class_labels["label"] == ("0", "1", "2")


def test_each_output_gets_the_labels_of_the_node_that_produces_it(tmp_path: Path) -> None:
    model = make_tabular_model({"by_name": "prob_maps", "by_index": "int_prob_maps"}, classes=("no", "yes"))

    assert inspected(tmp_path, model).class_labels == {"by_name": ("no", "yes"), "by_index": ("0", "1")}


def test_class_labels_are_traced_through_pass_through_ops(tmp_path: Path) -> None:
    model = onnx.load_from_string(make_plain_classifier_zip(tmp_path).onnx_bytes)
    classifier = next(node for node in model.graph.node if node.op_type == "LinearClassifier")
    classifier.output[0] = "raw_label"
    model.graph.node.append(helper.make_node("Cast", ["raw_label"], ["label"], to=TensorProto.INT64))

    assert inspected(tmp_path, model).class_labels["label"] == ("0", "1", "2")


def test_a_graph_without_classifier_nodes_has_no_class_labels(tmp_path: Path) -> None:
    info = inspected(
        tmp_path, make_tabular_model({"probabilities": "probabilities", "predicted": "predicted"})
    )

    assert info.class_labels == {}


# --- input rank rules (spec 8.6) ---------------------------------------------------------------------


def tensor(name: str, shape: tuple[int, ...] | None, element_type: str = "FLOAT") -> TensorInfo:
    return TensorInfo(name, ValueKind.TENSOR, element_type, shape)


def test_every_onnx_input_is_a_batch_of_rows() -> None:
    assert input_problems([tensor("a", (-1, 4)), tensor("b", (1, 2))], ModelType.ONNX) == []
    assert input_problems([tensor("a", (-1, 4)), tensor("b", (-1,))], ModelType.ONNX) == [
        "input 'b' has shape [?]; ONNX inputs must have rank 2 ([batch, features])"
    ]


def test_an_image_model_has_one_four_dimensional_input() -> None:
    assert input_problems([tensor("image", (-1, 3, 224, 224))], ModelType.ONNX_IMG) == []
    assert input_problems([tensor("image", (-1, 224, 224))], ModelType.ONNX_IMG) == [
        "input 'image' has shape [?, 224, 224]; ONNX_IMG inputs must have rank 4 (a 4-D image tensor)"
    ]


def test_an_image_model_cannot_have_a_second_input() -> None:
    assert input_problems(
        [tensor("image", (-1, 3, 8, 8)), tensor("scale", (-1, 3, 1, 1))], ModelType.ONNX_IMG
    ) == ["an ONNX_IMG model must have exactly one input (the image); this one has 'image', 'scale'"]


def test_inputs_of_unknown_rank_or_kind_are_refused() -> None:
    other = TensorInfo("seq", ValueKind.OTHER, "UNKNOWN", None)

    assert input_problems([tensor("x", None), other, tensor("c", (-1, 2), "UNKNOWN")], ModelType.ONNX) == [
        "input 'x' has shape unknown; ONNX inputs must have rank 2 ([batch, features])",
        "input 'seq' is not a tensor; ONNX inputs must be [batch, features]",
        "input 'c' has an element type that cannot be fed from JSON",
    ]


def test_a_model_without_inputs_cannot_be_scored() -> None:
    assert input_problems([], ModelType.ONNX) == ["the model has no inputs"]


def test_inspect_model_applies_the_rank_rules_for_the_model_type(tmp_path: Path) -> None:
    _, problems = inspect(tmp_path, make_image_model(outputs={"features": "features"}), ModelType.ONNX)

    assert problems == [
        "input 'image' has shape [?, 3, 8, 8]; ONNX inputs must have rank 2 ([batch, features])"
    ]


# --- the model must be sound and load here -----------------------------------------------------------


def test_the_onnx_checker_must_accept_the_graph(tmp_path: Path) -> None:
    model = graph_model(
        [helper.make_node("Relu", ["undefined"], ["y"])],
        [float_info("x", [None, 2])],
        [float_info("y", [None, 2])],
    )

    _, problems = inspect(tmp_path, model)

    assert len(problems) == 1
    assert problems[0].startswith("the ONNX checker rejects the model: ")
    assert "undefined" in problems[0]


def test_an_opset_newer_than_onnxruntime_supports_is_refused(tmp_path: Path) -> None:
    newest = supported_opsets()[""]
    model = make_tabular_model({"probabilities": "probabilities"}, opset=newest + 1)

    _, problems = inspect(tmp_path, model)

    assert f"opset {newest + 1} of ai.onnx, newer than onnxruntime" in " ".join(problems)


def test_the_model_must_load_in_onnxruntime(tmp_path: Path) -> None:
    model = graph_model(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")],
        [float_info("x", [None, 2])],
        [float_info("y", [None, 2])],
        opsets={"": OPSET, "com.example": 1},
    )

    _, problems = inspect(tmp_path, model)

    assert problems == [
        "onnxruntime cannot load the model: "
        "Fatal error: com.example:Frobnicate(-1) is not a registered function/op"
    ]


def test_onnxruntime_messages_lose_their_cpp_noise() -> None:
    raw = (
        "[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/onnxruntime/core/graph/model_load_utils.h:46 void "
        "onnxruntime::model_load_utils::ValidateOpsetForDomain(const std::unordered_map<std::string, int>&, "
        "const onnxruntime::logging::Logger&, bool, const std::string&, int) ONNX Runtime only *guarantees* "
        "support for models stamped with official released onnx opset versions."
    )

    assert onnxruntime_message(raw) == (
        "ONNX Runtime only *guarantees* support for models stamped with official released onnx opset "
        "versions."
    )


# --- external data ----------------------------------------------------------------------------------


def test_external_data_in_the_package_is_fine(tmp_path: Path) -> None:
    model = onnx.load_from_string(make_external_data_zip(tmp_path).onnx_bytes)

    assert external_data_problems(model, {"external.onnx", "metadata.json", "weights.bin"}) == []


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("/etc/passwd", "external data location '/etc/passwd' is an absolute path"),
        ("../weights.bin", "external data location '../weights.bin' points outside the archive ('..')"),
        ("C:\\weights.bin", "external data location 'C:\\\\weights.bin' uses a backslash in its name"),
        ("other.bin", "external data file 'other.bin' is not in the archive"),
    ],
)
def test_external_data_must_be_a_plain_relative_name_in_the_package(
    tmp_path: Path, location: str, problem: str
) -> None:
    model = onnx.load_from_string(make_external_data_zip(tmp_path, location=location).onnx_bytes)

    (found,) = external_data_problems(model, {"external.onnx", "metadata.json", "weights.bin"})

    assert found.startswith(problem)
