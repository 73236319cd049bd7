"""The package layout of spec section 7: which accepted entries are the model, its metadata, its labels.

Exactly one ``*.onnx``, a ``metadata.json`` and an optional ``label.txt``, all at the top level; a
single top-level folder holding everything is tolerated and stripped, and the folders and files
macOS Finder adds to every zip it makes are ignored.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping

METADATA_NAME = "metadata.json"
LABELS_NAME = "label.txt"
ONNX_SUFFIX = ".onnx"

#: Added by macOS Finder to every zip it makes; never part of a model.
_MACOS_FOLDER = "__MACOSX"
_MACOS_FILES = frozenset({".DS_Store"})


def arrange(
    accepted: list[zipfile.ZipInfo], rejected: list[str], problems: list[str]
) -> tuple[dict[str, zipfile.ZipInfo], str | None]:
    """(files by package-relative name, the ``.onnx`` name) from the entries that passed the safety
    checks; ``rejected`` names the others, so that a missing file is not reported twice."""
    model_files = [info for info in accepted if not _is_macos_clutter(info.filename)]
    prefix = _single_top_folder([info.filename for info in model_files])
    files = {info.filename[len(prefix) :]: info for info in model_files}
    onnx_name = _find_onnx(files, rejected, problems)
    if METADATA_NAME not in files and not any(_basename(name) == METADATA_NAME for name in rejected):
        problems.append(_missing_metadata(files))
    return files, onnx_name


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
