"""The graph as a file: parsed without its weights, and every external data file it references.

A model may keep tensors in files beside it (ONNX external data); onnxruntime opens whatever the
graph names, so every such ``location`` is found here wherever it hides (initializers, sparse
tensors, node attributes, subgraphs, functions) and is checked and extracted like a zip entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx

from omlsvc.repository.zipsafety import invalid_package


def read_model_proto(onnx_path: Path) -> onnx.ModelProto:
    """Parse the graph without its external data (which is only read by onnxruntime, from a path)."""
    try:
        return onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, onnx raises several others
        raise invalid_package(f"{onnx_path.name} is not a valid ONNX model: {exc}") from exc


def external_data_locations(model: onnx.ModelProto) -> tuple[str, ...]:
    """The ``location`` of every tensor stored outside the model file, as written in the graph, sorted.

    Covers initializers, sparse initializers, tensors in node attributes and subgraphs, and
    functions: onnxruntime may open any of them.
    """
    locations: set[str] = set()
    for tensor in _all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            locations.add(entries.get("location", ""))
    return tuple(sorted(locations))


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
            yield sparse.values
            yield sparse.indices
        if attribute.HasField("g"):
            yield from _graph_tensors(attribute.g)
        for graph in attribute.graphs:
            yield from _graph_tensors(graph)
