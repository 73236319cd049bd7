"""Zip safety: what is refused before anything in the archive is trusted (not a zip, too large, too
many entries), and entries whose names or kinds could not be read safely. Problems are collected
so that one answer names all of them.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.zipsafety import unsafe_name_reason
from tests.modelzoo import make_regressor_zip, write_zip
from tests.unit.repository.zips import (
    METADATA,
    MODEL,
    patch_entry,
    problems_of,
    refusal,
    scan,
    zip_with_entry,
)

# --- what is refused outright ----------------------------------------------------------------------


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07\x12\x04onnx")

    assert refusal(path).startswith("the file is not a readable zip archive")


def test_a_truncated_zip_is_refused(tmp_path: Path) -> None:
    path = make_regressor_zip(tmp_path).zip_path
    path.write_bytes(path.read_bytes()[:-30])

    assert refusal(path).startswith("the file is not a readable zip archive")


def test_an_archive_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL, "metadata.json": METADATA})

    problem = refusal(path, ArchiveLimits(max_archive_bytes=100))

    assert problem == f"the archive is {path.stat().st_size} bytes, over the limit of 100 bytes"


def test_too_many_entries_are_refused_before_the_directory_is_parsed(tmp_path: Path) -> None:
    files = {f"junk{i}.txt": b"" for i in range(5)} | {"model.onnx": MODEL, "metadata.json": METADATA}
    path = write_zip(tmp_path / "p.zip", files)

    assert (
        refusal(path, ArchiveLimits(max_entries=3)) == "the archive has 7 entries, more than the limit of 3"
    )


# --- names and entry kinds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/etc/passwd", "is an absolute path"),
        ("../../model.onnx", "points outside the archive ('..')"),
        ("weights/../../x.bin", "points outside the archive ('..')"),
        ("..\\model.onnx", "uses a backslash in its name (only '/' separates folders)"),
        ("C:/model.onnx", "starts with a drive letter"),
        ("c:model.onnx", "starts with a drive letter"),
        ("weights//x.bin", "has an empty or '.' path component"),
        ("./model.onnx", "has an empty or '.' path component"),
        ("model\x00.onnx", "has control characters in its name"),
        ("", "has an empty name"),
    ],
)
def test_unsafe_names(name: str, reason: str) -> None:
    assert unsafe_name_reason(name) == reason


@pytest.mark.parametrize("name", ["model.onnx", "weights/layer 1.bin", "données.bin", "folder/"])
def test_plain_relative_names_are_safe(name: str) -> None:
    assert unsafe_name_reason(name) is None


def test_entries_with_unsafe_names_are_reported_and_skipped(tmp_path: Path) -> None:
    files = {"model.onnx": MODEL, "metadata.json": METADATA, "../evil.sh": b"#!", "/abs.onnx": MODEL}

    package = scan(write_zip(tmp_path / "p.zip", files))

    assert package.problems == (
        "entry '../evil.sh' points outside the archive ('..')",
        "entry '/abs.onnx' is an absolute path",
    )
    assert set(package.files) == {"model.onnx", "metadata.json"}


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("label.txt")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16

    assert problems_of(zip_with_entry(tmp_path / "p.zip", link, b"/etc/passwd")) == (
        "entry 'label.txt' is a symbolic link",
    )


def test_other_special_files_are_refused(tmp_path: Path) -> None:
    fifo = zipfile.ZipInfo("label.txt")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16

    assert problems_of(zip_with_entry(tmp_path / "p.zip", fifo)) == (
        "entry 'label.txt' is not a regular file",
    )


def test_entries_without_unix_mode_bits_are_plain_files(tmp_path: Path) -> None:
    windows = zipfile.ZipInfo("label.txt")
    windows.create_system = 0
    windows.external_attr = 0x20  # MS-DOS "archive" attribute only

    assert problems_of(zip_with_entry(tmp_path / "p.zip", windows)) == ()


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL, "metadata.json": METADATA})
    patch_entry(path, "model.onnx", flags=0x1)

    problems = problems_of(path)

    assert problems == ("entry 'model.onnx' is encrypted",)  # and no second "no .onnx file" problem


def test_unsupported_compression_methods_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("model.onnx", MODEL)
        archive.writestr("metadata.json", METADATA)
    patch_entry(path, "model.onnx", method=9)  # Deflate64

    assert problems_of(path) == ("entry 'model.onnx' uses an unsupported compression method (9)",)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL, "metadata.json": METADATA})
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("metadata.json", b'{"function": "clustering"}')

    assert problems_of(path) == ("entry 'metadata.json' duplicates the entry 'metadata.json'",)


def test_names_differing_only_in_case_are_duplicates(tmp_path: Path) -> None:
    files = {"model.onnx": MODEL, "metadata.json": METADATA, "weights.bin": b"1", "WEIGHTS.bin": b"2"}

    assert problems_of(write_zip(tmp_path / "p.zip", files)) == (
        "entry 'WEIGHTS.bin' duplicates the entry 'weights.bin'",
    )


def test_every_problem_is_collected(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("model.onnx")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(link, b"/etc/passwd")
        archive.writestr("/etc/cron.d/job", b"* * * * * root sh")

    assert problems_of(path) == (
        "entry 'model.onnx' is a symbolic link",
        "entry '/etc/cron.d/job' is an absolute path",
        "metadata.json is missing",
    )
