"""Safe reading of an uploaded model package: a zip in which nothing is trusted.

Every size the zip declares is checked before anything is read and enforced again while reading (a
zip bomb lies about its sizes); every entry name is checked before it can become a path; only
regular, unencrypted files are read; and only the ``.onnx`` file and the external data files it
references are ever written to disk. Structural problems are collected rather than raised one at a
time, so that one 400 response names all of them.

Layout rules (spec section 7): exactly one ``*.onnx``, a ``metadata.json`` and an optional
``label.txt``, all at the top level; a single top-level folder holding everything is tolerated and
stripped, and the folders and files macOS Finder adds to every zip it makes are ignored.
"""

from __future__ import annotations

import lzma
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import BinaryIO

import onnx

from omlsvc.core.errors import InvalidModel

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

DEFAULT_MAX_ARCHIVE_BYTES = 2 * GIB
DEFAULT_MAX_UNCOMPRESSED_BYTES = 2 * GIB
DEFAULT_MAX_RATIO = 200.0
DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_METADATA_BYTES = 1 * MIB
DEFAULT_MAX_LABEL_BYTES = 4 * MIB
#: Lines of label.txt: ImageNet-21k has 21,843 classes; two million made one score answer 94 MiB.
DEFAULT_MAX_LABELS = 100_000
#: The largest image a model may ask its input resized to (height x width), from metadata or graph.
DEFAULT_MAX_IMAGE_TARGET_PIXELS = 4096 * 4096
#: Seconds the trial run of a model on a dummy batch may take during validation.
DEFAULT_TRIAL_RUN_S = 120.0

METADATA_NAME = "metadata.json"
LABELS_NAME = "label.txt"
ONNX_SUFFIX = ".onnx"

#: Entries smaller than this are never called a bomb for their compression ratio alone: small files
#: (a label list, zero-filled weights) legitimately compress far better than any sane ratio limit.
RATIO_FLOOR_BYTES = 1 * MIB

_CHUNK_BYTES = 1 * MIB
#: Central directory bytes allowed per entry, checked before zipfile parses the directory into
#: memory: a 46-byte record plus a name and extra fields of reasonable length.
_DIRECTORY_BYTES_PER_ENTRY = 4 * KIB
_ENCRYPTED_FLAG = 0x1
_SUPPORTED_COMPRESSION = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
#: Added by macOS Finder to every zip it makes; never part of a model.
_MACOS_FOLDER = "__MACOSX"
_MACOS_FILES = frozenset({".DS_Store"})
#: Errors zipfile and its decompressors raise on corrupt or unsupported member data.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
)

_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_MAX_COMMENT = 0xFFFF


@dataclass(frozen=True)
class ArchiveLimits:
    """Upper bounds on what an uploaded package may make us read, decompress, write or run.

    ``max_ratio`` is uncompressed / compressed size per entry (only for entries of at least
    ``RATIO_FLOOR_BYTES``); ``max_uncompressed_bytes`` bounds the declared total and, separately,
    what is actually decompressed through one open package. ``max_labels`` bounds label.txt's lines,
    ``max_image_target_pixels`` an image model's input size, ``trial_run_s`` the validation's run of
    the model on a dummy batch.
    """

    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    max_ratio: float = DEFAULT_MAX_RATIO
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    max_label_bytes: int = DEFAULT_MAX_LABEL_BYTES
    max_labels: int = DEFAULT_MAX_LABELS
    max_image_target_pixels: int = DEFAULT_MAX_IMAGE_TARGET_PIXELS
    trial_run_s: float = DEFAULT_TRIAL_RUN_S

    def __post_init__(self) -> None:
        for limit in fields(self):
            if getattr(self, limit.name) <= 0:
                raise ValueError(f"ArchiveLimits.{limit.name} must be positive")


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


class ModelPackage:
    """An open package whose structure has been checked; read its files through this object only.

    ``files`` maps package-relative names (top-level folder stripped) to the zip entries that passed
    every check; entries that failed are absent and described in ``problems``. ``onnx_name`` is set
    when exactly one acceptable ``.onnx`` lies at the top level. Reads and extractions stop as soon
    as the bytes actually decompressed exceed a member's declared size or the package's budget.
    """

    def __init__(
        self,
        archive: zipfile.ZipFile,
        limits: ArchiveLimits,
        files: Mapping[str, zipfile.ZipInfo],
        onnx_name: str | None,
        problems: Iterable[str],
    ) -> None:
        self._archive = archive
        self._limits = limits
        self.files: Mapping[str, zipfile.ZipInfo] = MappingProxyType(dict(files))
        self.onnx_name = onnx_name
        self.problems = tuple(problems)
        self._budget = limits.max_uncompressed_bytes

    def __enter__(self) -> ModelPackage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()

    def read(self, name: str, max_bytes: int) -> bytes:
        """The member's bytes; InvalidModel if it is over ``max_bytes``, corrupt or lies about its size."""
        return b"".join(self._stream(name, max_bytes))

    def extract(self, names: Iterable[str], dest_dir: Path) -> None:
        """Write the named members under ``dest_dir`` (which must exist), never overwriting a file."""
        root = dest_dir.resolve()
        for name in names:
            target = root.joinpath(*name.split("/"))
            if unsafe_name_reason(name) or root not in target.parents:
                raise _invalid(f"{name!r} cannot be extracted: it is not a plain relative name")
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with target.open("xb") as sink:
                for chunk in self._stream(name, self._budget):
                    sink.write(chunk)

    def _stream(self, name: str, max_bytes: int) -> Iterator[bytes]:
        info = self.files.get(name)
        if info is None:
            raise _invalid(f"{name!r} is not in the archive")
        if info.file_size > max_bytes:
            raise _invalid(f"{name} is {info.file_size} bytes, over the limit of {max_bytes} bytes")
        if info.file_size > self._budget:
            raise _invalid(f"{name} would take the package over {self._limits.max_uncompressed_bytes} bytes")
        limit = min(info.file_size, max_bytes, self._budget)
        seen = 0
        try:
            with self._archive.open(info) as member:
                while chunk := member.read(_CHUNK_BYTES):
                    seen += len(chunk)
                    if seen > limit:
                        raise _invalid(
                            f"{name} decompresses to more than its declared {info.file_size} bytes"
                        )
                    yield chunk
        except _READ_ERRORS as exc:
            raise _invalid(f"{name} cannot be read from the archive: {exc}") from exc
        finally:
            self._budget -= seen


def open_package(zip_path: Path, limits: ArchiveLimits) -> ModelPackage:
    """Open and check ``zip_path``; the caller closes the result (it is a context manager).

    Raises InvalidModel only when nothing can be read at all (not a zip, archive too large, too many
    entries); every other structural problem is listed in ``ModelPackage.problems`` so that the
    caller can go on checking what is readable and report everything at once.
    """
    size = zip_path.stat().st_size
    if size > limits.max_archive_bytes:
        raise _invalid(f"the archive is {size} bytes, over the limit of {limits.max_archive_bytes} bytes")
    try:
        with zip_path.open("rb") as raw:
            declared = _declared_directory(raw, size)
        if declared is not None:
            _check_directory_size(*declared, limits)
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError, ValueError, struct.error, OSError) as exc:
        raise _invalid(f"the file is not a readable zip archive ({exc})") from exc
    try:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise _invalid(
                f"the archive has {len(infos)} entries, more than the limit of {limits.max_entries}"
            )
        files, onnx_name, problems = _scan(infos, limits)
    except BaseException:
        archive.close()
        raise
    return ModelPackage(archive, limits, files, onnx_name, problems)


def extract_package(zip_path: Path, dest_dir: Path, limits: ArchiveLimits) -> Path:
    """Extract the ``.onnx`` and the external data files it references, and nothing else.

    Models are loaded from a path so that onnxruntime finds external data beside them (it refuses
    external data when loading from bytes). ``dest_dir`` is created private (0700) if needed and
    must be new to this package: existing files are never overwritten. Returns the ``.onnx`` path.
    Raises InvalidModel for any structural problem, since only validated packages should get here.
    """
    with open_package(zip_path, limits) as package:
        if package.problems or package.onnx_name is None:
            raise InvalidModel("The model package is invalid", details=package.problems)
        dest_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        package.extract([package.onnx_name], dest_dir)
        onnx_path = dest_dir / package.onnx_name
        locations = external_data_locations(read_model_proto(onnx_path))
        missing = [location for location in locations if location not in package.files]
        if missing:
            raise InvalidModel(
                "The model package is invalid",
                details=[f"external data {location!r} is not in the archive" for location in missing],
            )
        package.extract(locations, dest_dir)
    return onnx_path


def read_model_proto(onnx_path: Path) -> onnx.ModelProto:
    """Parse the graph without its external data (which is only read by onnxruntime, from a path)."""
    try:
        return onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, onnx raises several others
        raise _invalid(f"{onnx_path.name} is not a valid ONNX model: {exc}") from exc


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


def _scan(
    infos: list[zipfile.ZipInfo], limits: ArchiveLimits
) -> tuple[dict[str, zipfile.ZipInfo], str | None, list[str]]:
    """Check every entry, then the layout: (acceptable files by relative name, onnx name, problems)."""
    problems: list[str] = []
    accepted: list[zipfile.ZipInfo] = []
    rejected: list[str] = []
    seen: dict[str, str] = {}
    declared_total = 0
    for info in infos:
        name = info.filename
        reason = unsafe_name_reason(info.orig_filename) or _entry_problem(info, limits)
        if reason is None and name.casefold() in seen:
            reason = f"duplicates the entry {seen[name.casefold()]!r}"
        seen.setdefault(name.casefold(), name)
        declared_total += info.file_size
        if reason is not None:
            problems.append(f"entry {info.orig_filename!r} {reason}")
            rejected.append(name)
        elif not info.is_dir():
            accepted.append(info)
    if declared_total > limits.max_uncompressed_bytes:
        problems.append(
            f"the archive declares {declared_total} bytes uncompressed, "
            f"more than the limit of {limits.max_uncompressed_bytes}"
        )

    model_files = [info for info in accepted if not _is_macos_clutter(info.filename)]
    prefix = _single_top_folder([info.filename for info in model_files])
    files = {info.filename[len(prefix) :]: info for info in model_files}
    onnx_name = _find_onnx(files, rejected, problems)
    if METADATA_NAME not in files and not any(_basename(name) == METADATA_NAME for name in rejected):
        problems.append(_missing_metadata(files))
    return files, onnx_name, problems


def _entry_problem(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
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


def _find_onnx(files: Mapping[str, zipfile.ZipInfo], rejected: list[str], problems: list[str]) -> str | None:
    candidates = sorted(name for name in files if name.lower().endswith(ONNX_SUFFIX))
    if not candidates:
        if not any(name.lower().endswith(ONNX_SUFFIX) for name in rejected):
            problems.append("the archive holds no .onnx model file")
        return None
    if len(candidates) > 1:
        problems.append(
            f"the archive holds {len(candidates)} .onnx files ({', '.join(candidates)}); "
            "exactly one is allowed"
        )
        return None
    (name,) = candidates
    if "/" in name:
        problems.append(f"the model file {name!r} must be at the top level of the archive")
        return None
    return name


def _missing_metadata(files: Mapping[str, zipfile.ZipInfo]) -> str:
    near = [name for name in files if _basename(name).casefold() == METADATA_NAME]
    hint = (
        f" (found {near[0]!r}: the name is case-sensitive and the file must be at the top level)"
        if near
        else ""
    )
    return f"{METADATA_NAME} is missing{hint}"


def _single_top_folder(names: list[str]) -> str:
    """``folder/`` when every file lies under one top-level folder (as zipping a folder does), else ``""``."""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        return f"{tops.pop()}/"
    return ""


def _is_macos_clutter(name: str) -> bool:
    return name.split("/", 1)[0] == _MACOS_FOLDER or _basename(name) in _MACOS_FILES


def _basename(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _declared_directory(raw: BinaryIO, size: int) -> tuple[int, int] | None:
    """(entry count, central directory bytes) from the end records, read before zipfile trusts them.

    zipfile parses the whole central directory into memory on open; a crafted archive can declare
    millions of entries in a few hundred MB, so the counts are checked first. None when no end
    record is found (zipfile then reports the archive as not a zip).
    """
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


def _check_directory_size(entries: int, directory_bytes: int, limits: ArchiveLimits) -> None:
    if entries > limits.max_entries:
        raise _invalid(f"the archive has {entries} entries, more than the limit of {limits.max_entries}")
    if directory_bytes > limits.max_entries * _DIRECTORY_BYTES_PER_ENTRY:
        raise _invalid(f"the archive's central directory is {directory_bytes} bytes, too large to read")


def _invalid(problem: str) -> InvalidModel:
    return InvalidModel("The model package is invalid: 1 problem", details=[problem])
