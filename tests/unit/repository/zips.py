"""Zips for the archive tests: opened through the one entry point, headers edited where attacks need it."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from omlsvc.core.errors import InvalidModel
from omlsvc.repository.archive import ArchiveLimits, ModelPackage, open_package
from tests.modelzoo import write_zip

MODEL = b"not parsed by the archive layer"
METADATA = b'{"function": "regression"}'
LIMITS = ArchiveLimits()


def scan(path: Path, limits: ArchiveLimits = LIMITS) -> ModelPackage:
    with open_package(path, limits) as package:
        return package


def problems_of(path: Path, limits: ArchiveLimits = LIMITS) -> tuple[str, ...]:
    return scan(path, limits).problems


def refusal(path: Path, limits: ArchiveLimits = LIMITS) -> str:
    """The single problem of a package so broken that nothing in it can be read."""
    with pytest.raises(InvalidModel) as raised:
        open_package(path, limits)
    (problem,) = raised.value.details
    return problem


def zip_with_entry(path: Path, info: zipfile.ZipInfo, content: bytes = b"x") -> Path:
    """A valid package plus one extra entry built from ``info`` (mode bits, flags...)."""
    write_zip(path, {"model.onnx": MODEL, "metadata.json": METADATA})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(info, content)
    return path


def patch_entry(path: Path, name: str, **fields: int) -> None:
    """Rewrite header fields of one entry in both its local header and the central directory.

    zipfile always writes honest headers; attacks (lying sizes, unsupported methods, encryption
    flags) need the bytes edited. Fields: ``flags``, ``method``, ``file_size``.
    """
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local, at = archive.getinfo(name).header_offset, archive.start_dir
    while True:
        assert data[at : at + 4] == b"PK\x01\x02"
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, at + 28)
        if data[at + 46 : at + 46 + name_length].decode() == name:
            break
        at += 46 + name_length + extra_length + comment_length
    offsets = {"flags": (6, 8, "<H"), "method": (8, 10, "<H"), "file_size": (22, 24, "<I")}
    for field, value in fields.items():
        local_offset, central_offset, layout = offsets[field]
        struct.pack_into(layout, data, local + local_offset, value)
        struct.pack_into(layout, data, at + central_offset, value)
    path.write_bytes(bytes(data))
