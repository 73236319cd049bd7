"""Safe reading of an uploaded model package: a zip in which nothing is trusted.

Every size the zip declares is checked before anything is read (``zipsafety``) and enforced again
while reading (a zip bomb lies about its sizes); every entry name is checked before it can become a
path; only regular, unencrypted files are read; and only the ``.onnx`` file and the external data
files it references (``external_data``) are ever written to disk. Structural problems, the layout
rules of spec section 7 (``layout``) included, are collected rather than raised one at a time, so
that one 400 response names all of them. The bounds themselves are :class:`ArchiveLimits`.
"""

from __future__ import annotations

import json
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType

from omlsvc.core.errors import InvalidModel
from omlsvc.repository.external_data import external_data_locations, read_model_proto
from omlsvc.repository.layout import METADATA_NAME, arrange
from omlsvc.repository.limits import MIB, ArchiveLimits
from omlsvc.repository.spec import MEAN_FILE
from omlsvc.repository.zipsafety import check_directory, entry_problem, invalid_package, unsafe_name_reason

__all__ = ["ArchiveLimits", "ModelPackage", "extract_package", "open_package"]

_CHUNK_BYTES = 1 * MIB
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
                raise invalid_package(f"{name!r} cannot be extracted: it is not a plain relative name")
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with target.open("xb") as sink:
                for chunk in self._stream(name, self._budget):
                    sink.write(chunk)

    def _stream(self, name: str, max_bytes: int) -> Iterator[bytes]:
        info = self.files.get(name)
        if info is None:
            raise invalid_package(f"{name!r} is not in the archive")
        if info.file_size > max_bytes:
            raise invalid_package(f"{name} is {info.file_size} bytes, over the limit of {max_bytes} bytes")
        if info.file_size > self._budget:
            raise invalid_package(
                f"{name} would take the package over {self._limits.max_uncompressed_bytes} bytes"
            )
        limit = min(info.file_size, max_bytes, self._budget)
        seen = 0
        try:
            with self._archive.open(info) as member:
                while chunk := member.read(_CHUNK_BYTES):
                    seen += len(chunk)
                    if seen > limit:
                        raise invalid_package(
                            f"{name} decompresses to more than its declared {info.file_size} bytes"
                        )
                    yield chunk
        except _READ_ERRORS as exc:
            raise invalid_package(f"{name} cannot be read from the archive: {exc}") from exc
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
        raise invalid_package(
            f"the archive is {size} bytes, over the limit of {limits.max_archive_bytes} bytes"
        )
    try:
        with zip_path.open("rb") as raw:
            check_directory(raw, size, limits)
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError, ValueError, struct.error, OSError) as exc:
        raise invalid_package(f"the file is not a readable zip archive ({exc})") from exc
    try:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise invalid_package(
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
        package.extract(_preprocessing_files(package, limits), dest_dir)
    return onnx_path


def _preprocessing_files(package: ModelPackage, limits: ArchiveLimits) -> list[str]:
    """Files metadata.json names for image preprocessing (``meanFile``, issue 16) that scoring reads
    beside the model; validation proved them present and well-formed at store time."""
    if METADATA_NAME not in package.files:
        return []
    try:
        document = json.loads(package.read(METADATA_NAME, limits.max_metadata_bytes).decode("utf-8-sig"))
    except (ValueError, RecursionError, InvalidModel):
        return []
    name = document.get(MEAN_FILE) if isinstance(document, dict) else None
    return [name] if isinstance(name, str) and name in package.files else []


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
        reason = unsafe_name_reason(info.orig_filename) or entry_problem(info, limits)
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
    files, onnx_name = arrange(accepted, rejected, problems)
    return files, onnx_name, problems
