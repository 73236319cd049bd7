"""onnxruntime's exception text loses its header, C++ source paths, signatures and failed checks."""

from __future__ import annotations

import pytest

from omlsvc.core.ortmessages import onnxruntime_message

RESHAPE = (
    "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Reshape node. "
    "Name:'shape_it' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/"
    "reshape_helper.h:84 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, "
    "onnxruntime::TensorShapeVector&, bool) size != 0 && (input_shape_size % size) == 0 was false. "
    "The input tensor cannot be reshaped to the requested shape. Input shape:{1,3}, requested shape:{-1,6}\n"
)


def test_a_failed_check_inside_a_node_keeps_the_node_and_the_reason_only() -> None:
    assert onnxruntime_message(RESHAPE) == (
        "Reshape node 'shape_it' failed: The input tensor cannot be reshaped to the requested shape. "
        "Input shape:{1,3}, requested shape:{-1,6}"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Exception during initialization: "
        "/onnxruntime_src/onnxruntime/core/framework/allocator.cc:58 bool onnxruntime::Check(size_t) "
        "Out of memory",
        "failed in D:\\a\\_work\\1\\s\\onnxruntime\\core\\session\\inference_session.cc:1234 while loading",
        "raised at /usr/lib/python3/site-packages/onnxruntime/capi/session.py:220 in run",
        "see sequential_executor.cc:677 ExecuteKernel for details",
    ],
)
def test_no_source_path_survives_wherever_it_stands(raw: str) -> None:
    message = onnxruntime_message(raw)
    assert message
    for insides in ("/onnxruntime_src", "\\onnxruntime\\", ".cc:", ".py:", "site-packages", "::Check"):
        assert insides not in message, message


def test_long_reasons_are_cut_to_the_limit() -> None:
    assert len(onnxruntime_message("x " * 1000, limit=50)) == 50
