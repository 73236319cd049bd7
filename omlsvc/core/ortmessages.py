"""onnxruntime's exception text, made fit for a client: the reason, without the library's insides.

onnxruntime puts an error-code header, the C++ source file and line, the function signature and
the failed internal condition in front of what actually went wrong, for example::

    [ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Reshape node.
    Name:'' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:84
    onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, ...) size != 0 &&
    (input_shape_size % size) == 0 was false. The input tensor cannot be reshaped to the requested
    shape. Input shape:{1,3}, requested shape:{-1,6}

which becomes ``Reshape node failed: The input tensor cannot be reshaped to the requested shape.
Input shape:{1,3}, requested shape:{-1,6}``. No source path survives, wherever it stands.
"""

from __future__ import annotations

import re

_SOURCE_EXTENSIONS = "h|hh|hpp|c|cc|cpp|cxx|cu|inc"
_HEADER = re.compile(r"\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
#: onnxruntime names the file it loaded: a server path that clients must not see.
_LOAD_PREFIX = re.compile(r"^Load model from .*? failed:\s*")
_NODE = re.compile(
    r"Non-zero status code returned while running (\w+) node\. Name:'([^']*)' Status Message:\s*"
)
#: ``/onnxruntime_src/onnxruntime/core/.../reshape_helper.h:84`` or ``sequential_executor.cc:677``.
_LOCATION = re.compile(rf"(?:[A-Za-z]:)?[\w./\\+-]*\.(?:{_SOURCE_EXTENSIONS}):\d+\s*")
#: Any other path to a source file or library, with or without a line number.
_SOURCE_PATH = re.compile(rf"(?:[A-Za-z]:)?(?:[/\\][\w.+-]+)+\.(?:{_SOURCE_EXTENSIONS}|py|so)\b(?::\d+)?")
_FAILED_CHECK = " was false."
DEFAULT_LIMIT = 600


def onnxruntime_message(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """The reason in onnxruntime's exception ``text``, on one line of at most ``limit`` characters."""
    text = _LOAD_PREFIX.sub("", _HEADER.sub("", text.strip()))
    text = _NODE.sub(_node_failed, text)
    while location := _LOCATION.search(text):
        text = text[: location.start()] + _without_signature(text[location.end() :])
    text = _SOURCE_PATH.sub("", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _node_failed(match: re.Match[str]) -> str:
    op, name = match.group(1), match.group(2)
    return f"{op} node {name!r} failed: " if name else f"{op} node failed: "


def _without_signature(text: str) -> str:
    """``text`` after a source location, less the C++ function signature and failed check that follow."""
    head = text.split("(", 1)[0]
    if "::" in head and "\n" not in head:  # ``void onnxruntime::X::Y(...)``: skip to the closing parenthesis
        depth = 0
        for index, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == ")" and depth == 0:
                text = text[index + 1 :]
                break
    check = text.find(_FAILED_CHECK)
    if check >= 0:  # ORT_ENFORCE: ``<condition> was false. <message>``
        text = text[check + len(_FAILED_CHECK) :]
    return text.lstrip()


#: How onnxruntime reports that an allocation failed (under a memory rlimit, or its arena's limit).
ALLOCATION_FAILURE = re.compile(
    r"Failed to allocate memory|bad_alloc|std::bad_array_new_length|Available memory of|Cannot allocate memory"
)
