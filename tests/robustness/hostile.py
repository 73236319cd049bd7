"""Hostile inputs, built byte by byte: model packages, images and raw HTTP requests.

zipfile always writes honest archives; attacks need headers edited after the fact
(:func:`patch_sizes`). Images that claim enormous sizes are a PNG header with almost no pixel data
(:func:`png_claiming`). Raw HTTP goes through a plain socket (:func:`raw_request`) so that a client
can lie about its Content-Length or vanish halfway through a body.
"""

from __future__ import annotations

import io
import socket
import stat
import struct
import time
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from tests import modelzoo

#: ``S_IFLNK`` in the high 16 bits of ``external_attr``: how Unix zip tools record a symbolic link.
SYMLINK_ATTR = (stat.S_IFLNK | 0o777) << 16


# --- models that do not end or do not fit ---------------------------------------------------------

#: What a looping or allocating regressor's input holds when its own value sets the work.
HOSTILE_INPUT = "x"


def _regressor_package(directory: Path, stem: str, nodes: list[onnx.NodeProto], initializers: list) -> Path:
    """A regression package: input ``x`` float [N, 1], output ``variable`` = x + 0 * (what the nodes make
    as the scalar ``work``), so the result is x once the work is done."""
    nodes = [
        *nodes,
        helper.make_node("Mul", ["work", "zero"], ["nothing"]),
        helper.make_node("Add", [HOSTILE_INPUT, "nothing"], ["variable"]),
    ]
    graph = helper.make_graph(
        nodes,
        stem,
        [helper.make_tensor_value_info(HOSTILE_INPUT, TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        [*initializers, numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", modelzoo.OPSET)], ir_version=modelzoo.IR_VERSION
    )
    onnx.checker.check_model(model)
    return modelzoo.zip_package(directory, stem, model, {"function": "regression"}).zip_path


def _input_as_count(name: str) -> list[onnx.NodeProto]:
    """Nodes making the int64 scalar ``name`` from the largest value of the input."""
    return [
        helper.make_node("ReduceMax", [HOSTILE_INPUT], [f"{name}_float"], keepdims=0),
        helper.make_node("Cast", [f"{name}_float"], [name], to=TensorProto.INT64),
    ]


def looping_regressor_zip(directory: Path, trip_count: int | None = None) -> Path:
    """A Loop of ``trip_count`` iterations (a Sin and an Add each, about 2 us here), or as many as the
    largest input value says when None: ``x = 1e12`` never ends in practice, zeros end at once."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Sin", ["acc_in"], ["sine"]),
            helper.make_node("Add", ["sine", "one"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, []),
        ],
        [numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")],
    )
    initializers = [
        numpy_helper.from_array(np.array(True), "cond"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "acc0"),
    ]
    nodes = []
    if trip_count is None:
        nodes += _input_as_count("trip")
    else:
        initializers.append(numpy_helper.from_array(np.array(trip_count, dtype=np.int64), "trip"))
    nodes.append(helper.make_node("Loop", ["trip", "cond", "acc0"], ["work"], body=body))
    stem = "loop_input" if trip_count is None else f"loop_{trip_count}"
    return _regressor_package(directory, stem, nodes, initializers)


def allocating_regressor_zip(directory: Path, side: int | None = None) -> Path:
    """ConstantOfShape([k, k]) of float ones, summed: ``4 k^2`` bytes at once. ``k`` is ``side``, or
    the largest input value when None (``x = 20000`` asks for 1.6 GB, zeros for nothing)."""
    initializers = []
    nodes = []
    if side is None:
        nodes += _input_as_count("side")
        nodes += [
            helper.make_node("Unsqueeze", ["side", "axis0"], ["side_1d"]),
            helper.make_node("Concat", ["side_1d", "side_1d"], ["shape"], axis=0),
        ]
        initializers.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"))
    else:
        initializers.append(numpy_helper.from_array(np.array([side, side], dtype=np.int64), "shape"))
    nodes += [
        helper.make_node(
            "ConstantOfShape",
            ["shape"],
            ["ones"],
            value=numpy_helper.from_array(np.array([1.0], dtype=np.float32)),
        ),
        helper.make_node("ReduceSum", ["ones"], ["work"], keepdims=0),
    ]
    stem = "allocate_input" if side is None else f"allocate_{side}"
    return _regressor_package(directory, stem, nodes, initializers)


def fixed_giant_image_zip(directory: Path, height: int = 40_000, width: int = 8) -> Path:
    """The zoo's image classifier with its input fixed to [N, 3, height, width] in the graph."""
    model = modelzoo.make_image_model(outputs={"probabilities": "probabilities"}, fixed_size=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = height, width
    metadata = {"function": "classification", "classificationProbOutput": "probabilities"}
    return modelzoo.zip_package(directory, "giant_image", model, metadata, modelzoo.IMAGE_CLASSES).zip_path


def huge_target_image_zip(directory: Path, side: int = 8192) -> Path:
    """The zoo's image classifier with dynamic sides that metadata.json sets to ``side`` x ``side``."""
    model = modelzoo.make_image_model(outputs={"probabilities": "probabilities"}, fixed_size=False)
    metadata = {
        "function": "classification",
        "classificationProbOutput": "probabilities",
        "height": side,
        "width": side,
    }
    return modelzoo.zip_package(directory, "huge_target", model, metadata, modelzoo.IMAGE_CLASSES).zip_path


def regressor_files(directory: Path) -> dict[str, bytes]:
    """The files of a good package (``regressor.onnx``, ``metadata.json``), to break one at a time."""
    with zipfile.ZipFile(modelzoo.make_regressor_zip(directory).zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zip_bytes(
    files: Mapping[str, bytes],
    *,
    symlinks: Mapping[str, str] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A zip of ``files`` (names used verbatim, even unsafe ones) plus symbolic-link entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
        for name, target in (symlinks or {}).items():
            link = zipfile.ZipInfo(name)
            link.external_attr = SYMLINK_ATTR
            archive.writestr(link, target)
    return buffer.getvalue()


def patch_sizes(data: bytes, name: str, file_size: int) -> bytes:
    """Make entry ``name`` declare ``file_size`` uncompressed bytes in both of its headers."""
    patched = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        local, at = archive.getinfo(name).header_offset, archive.start_dir
    while True:
        assert patched[at : at + 4] == b"PK\x01\x02"
        name_length, extra_length, comment_length = struct.unpack_from("<3H", patched, at + 28)
        if patched[at + 46 : at + 46 + name_length].decode() == name:
            break
        at += 46 + name_length + extra_length + comment_length
    struct.pack_into("<I", patched, local + 22, file_size)
    struct.pack_into("<I", patched, at + 24, file_size)
    return bytes(patched)


def declared_size_bomb(directory: Path) -> bytes:
    """Two padding entries each claiming almost 4 GiB: together over the uncompressed limit."""
    files = {**regressor_files(directory), "a.bin": b"\0" * 1000, "b.bin": b"\0" * 1000}
    data = zip_bytes(files)
    for name in ("a.bin", "b.bin"):
        data = patch_sizes(data, name, 0xFFFFFFF0)
    return data


def lying_size_bomb(directory: Path) -> bytes:
    """The model entry claims 200 bytes but inflates to 32 MiB (a small declared size passes the
    ratio check; only counting what is actually decompressed catches it)."""
    files = regressor_files(directory)
    files["regressor.onnx"] = files["regressor.onnx"] + b"\0" * (32 * 1024 * 1024)
    return patch_sizes(zip_bytes(files), "regressor.onnx", 200)


def many_entries(directory: Path, count: int = 5000) -> bytes:
    files = regressor_files(directory)
    files.update({f"junk/{index:05d}.txt": b"" for index in range(count)})
    return zip_bytes(files, compression=zipfile.ZIP_STORED)


def external_data_package(
    directory: Path, location: str, *, offset: int | None = None, length: int | None = None
) -> bytes:
    """The external-data regressor with its weights' ``location`` (and optionally offset/length) set."""
    zoo = modelzoo.make_external_data_zip(directory)
    model = onnx.load_from_string(zoo.onnx_bytes)
    for tensor in model.graph.initializer:
        entries = {entry.key: entry for entry in tensor.external_data}
        entries["location"].value = location
        for key, value in (("offset", offset), ("length", length)):
            if value is None:
                continue
            if key in entries:
                entries[key].value = str(value)
            else:
                tensor.external_data.add(key=key, value=str(value))
    return zip_bytes(
        {
            "external.onnx": model.SerializeToString(),
            "metadata.json": b'{"function": "regression"}',
            "weights.bin": zoo.extra_files["weights.bin"],
        }
    )


def external_data_via_symlink(directory: Path, target: str) -> bytes:
    """An external-data model whose ``weights.bin`` entry is a symbolic link to ``target``."""
    zoo = modelzoo.make_external_data_zip(directory)
    return zip_bytes(
        {"external.onnx": zoo.onnx_bytes, "metadata.json": b'{"function": "regression"}'},
        symlinks={"weights.bin": target},
    )


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels, with a few bytes of pixel data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def png_bomb(side: int = 7000) -> bytes:
    """A real, fully decodable black PNG of ``side`` x ``side`` pixels: ~150 KB that decode to
    ``3 * side**2`` bytes (147 MB at 7000), just under the default pixel limit."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, "PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def truncated_jpeg(side: int = 1200) -> bytes:
    """A JPEG cut off in the middle of its entropy-coded data (headers intact)."""
    buffer = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    return data[: len(data) * 2 // 3]


def raw_request(
    url: str,
    head: bytes,
    body: bytes = b"",
    *,
    close_after_send: bool = False,
    timeout: float = 30.0,
) -> bytes:
    """Send ``head`` (request line and headers, no blank line) and ``body`` over a fresh socket.

    With ``close_after_send`` the client vanishes after sending, as a crashed uploader does, and
    nothing is read. Otherwise the whole answer is read until the server closes or ``timeout`` ends.
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(head + b"\r\n\r\n" + body)
        if close_after_send:
            connection.shutdown(socket.SHUT_RDWR)
            return b""
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(response: bytes) -> bool:
    head, separator, body = response.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP answer (0 when there was none)."""
    if not response.startswith(b"HTTP/"):
        return 0
    return int(response.split(b" ", 2)[1])


def json_of(response: bytes) -> object:
    import json

    return json.loads(response.partition(b"\r\n\r\n")[2])
