"""Zip safety: what a package's entries and end records must be before anything is read from them.

A zip bomb lies about its sizes and a crafted archive about its names, types and directory size;
each check here looks at what the archive declares, before zipfile or a decompressor trusts it.
The checks answer with a reason (a phrase completing "entry 'x' ...") or raise the one-problem
:class:`InvalidModel` of a package that cannot be opened at all.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
from typing import BinaryIO

from omlsvc.core.errors import InvalidModel
from omlsvc.repository.limits import KIB, RATIO_FLOOR_BYTES, ArchiveLimits

#: Central directory bytes allowed per entry, checked before zipfile parses the directory into
#: memory: a 46-byte record plus a name and extra fields of reasonable length.
_DIRECTORY_BYTES_PER_ENTRY = 4 * KIB
_ENCRYPTED_FLAG = 0x1
_SUPPORTED_COMPRESSION = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")

_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_MAX_COMMENT = 0xFFFF


def invalid_package(problem: str) -> InvalidModel:
    """The error of a package that stops at one problem (it cannot be read, or a read failed)."""
    return InvalidModel("The model package is invalid: 1 problem", details=[problem])


def unsafe_name_reason(name: str) -> str | None:
    """Why ``name`` cannot be used as a path inside a private folder, or None when it can.

    Accepted names are plain relative paths with ``/`` separators: no absolute paths, drive letters,
    backslashes, ``.``/``..``/empty components or control characters. Shared by zip entry names and
    ONNX external-data locations, which both end up as paths under our folder.
    """
    if not name:
        return "has an empty name"
    if _CONTROL_CHARACTER.search(name):
        return "has control characters in its name"
    if "\\" in name:
        return "uses a backslash in its name (only '/' separates folders)"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE_LETTER.match(name):
        return "starts with a drive letter"
    parts = name.removesuffix("/").split("/")
    if ".." in parts:
        return "points outside the archive ('..')"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' path component"
    return None


def entry_problem(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    """Why one entry cannot be read safely (encryption, file type, compression, bomb), or None."""
    if info.flag_bits & _ENCRYPTED_FLAG:
        return "is encrypted"
    file_type = stat.S_IFMT(info.external_attr >> 16)
    # A zero file type means the tool recorded no Unix mode (Windows zips): nothing to distrust.
    if file_type == stat.S_IFLNK:
        return "is a symbolic link"
    if file_type not in (0, stat.S_IFDIR if info.is_dir() else stat.S_IFREG):
        return "is not a regular file"
    if info.is_dir():
        return None
    if info.compress_type not in _SUPPORTED_COMPRESSION:
        return f"uses an unsupported compression method ({info.compress_type})"
    if info.file_size > limits.max_uncompressed_bytes:
        return (
            f"declares {info.file_size} bytes uncompressed, over the limit of {limits.max_uncompressed_bytes}"
        )
    if info.file_size >= RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        return f"has a compression ratio of {ratio:.0f}:1, over the limit of {limits.max_ratio:g}:1"
    return None


def check_directory(raw: BinaryIO, size: int, limits: ArchiveLimits) -> None:
    """Refuse an archive whose end records declare more entries or directory bytes than allowed.

    zipfile parses the whole central directory into memory on open; a crafted archive can declare
    millions of entries in a few hundred MB, so the counts are checked first. Nothing is refused
    when no end record is found (zipfile then reports the archive as not a zip).
    """
    declared = _declared_directory(raw, size)
    if declared is None:
        return
    entries, directory_bytes = declared
    if entries > limits.max_entries:
        raise invalid_package(
            f"the archive has {entries} entries, more than the limit of {limits.max_entries}"
        )
    if directory_bytes > limits.max_entries * _DIRECTORY_BYTES_PER_ENTRY:
        raise invalid_package(
            f"the archive's central directory is {directory_bytes} bytes, too large to read"
        )


def _declared_directory(raw: BinaryIO, size: int) -> tuple[int, int] | None:
    """(entry count, central directory bytes) from the end records, read before zipfile trusts them."""
    tail_size = min(size, _END_RECORD.size + _MAX_COMMENT)
    raw.seek(size - tail_size)
    tail = raw.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _END_RECORD.size > len(tail):
        return None
    _, _, _, _, entries, directory_bytes, offset, _ = _END_RECORD.unpack_from(tail, at)
    if entries != 0xFFFF and 0xFFFFFFFF not in (directory_bytes, offset):
        return entries, directory_bytes
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at < 0:
        return None
    signature, _, record_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, locator_at)
    if signature != b"PK\x06\x07" or record_offset + _ZIP64_END_RECORD.size > size:
        return None
    raw.seek(record_offset)
    record = raw.read(_ZIP64_END_RECORD.size)
    if len(record) < _ZIP64_END_RECORD.size or record[:4] != b"PK\x06\x06":
        return None
    values = _ZIP64_END_RECORD.unpack(record)
    return values[7], values[8]
