"""The model package as a zip: what is refused before anything in it is trusted (spec section 7).

A package holds exactly one ``.onnx``, a ``metadata.json`` and optionally a ``label.txt`` at its top
level (one enclosing folder is tolerated). Zip bombs, path tricks, links, encrypted or corrupt entries
are refused; problems are collected so that one answer names all of them.
"""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from omlsvc.core.errors import InvalidModel
from omlsvc.repository.archive import (
    MIB,
    ArchiveLimits,
    ModelPackage,
    extract_package,
    open_package,
    unsafe_name_reason,
)
from tests.modelzoo import make_external_data_zip, make_regressor_zip, package_files, write_zip

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


# --- what a good package looks like ----------------------------------------------------------------


def test_a_package_lists_its_files_and_names_its_model(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", package_files(MODEL, {"function": "regression"}, ["a", "b"]))

    package = scan(path)

    assert package.problems == ()
    assert package.onnx_name == "model.onnx"
    assert set(package.files) == {"model.onnx", "metadata.json", "label.txt"}


def test_one_enclosing_folder_is_stripped(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "p.zip", {"model.onnx": MODEL, "metadata.json": METADATA}, folder="house_model"
    )

    package = scan(path)

    assert package.problems == ()
    assert set(package.files) == {"model.onnx", "metadata.json"}


def test_macos_finder_clutter_is_ignored(tmp_path: Path) -> None:
    files = {
        "m/model.onnx": MODEL,
        "m/metadata.json": METADATA,
        "m/.DS_Store": b"\0",
        "__MACOSX/m/._model.onnx": b"AppleDouble",
    }

    package = scan(write_zip(tmp_path / "p.zip", files))

    assert package.problems == ()
    assert package.onnx_name == "model.onnx"


def test_the_model_may_have_any_base_name_and_suffix_case(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"House_Prices.ONNX": MODEL, "metadata.json": METADATA})

    assert scan(path).onnx_name == "House_Prices.ONNX"


# --- layout rules ------------------------------------------------------------------------------------


def test_a_package_without_a_model_file_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"metadata.json": METADATA})

    assert problems_of(path) == ("the archive holds no .onnx model file",)


def test_a_package_with_two_model_files_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"a.onnx": MODEL, "b.onnx": MODEL, "metadata.json": METADATA})

    package = scan(path)

    assert package.problems == ("the archive holds 2 .onnx files (a.onnx, b.onnx); exactly one is allowed",)
    assert package.onnx_name is None


def test_the_model_file_must_be_at_the_top_level(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"models/model.onnx": MODEL, "metadata.json": METADATA})

    assert problems_of(path) == (
        "the model file 'models/model.onnx' must be at the top level of the archive",
    )


def test_metadata_json_is_required(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL})

    assert problems_of(path) == ("metadata.json is missing",)


def test_a_misspelt_metadata_json_gets_a_hint(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL, "Metadata.JSON": METADATA})

    (problem,) = problems_of(path)

    assert problem.startswith("metadata.json is missing (found 'Metadata.JSON': the name is case-sensitive")


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


# --- zip bombs -------------------------------------------------------------------------------------


def test_declared_sizes_over_the_limit_are_refused(tmp_path: Path) -> None:
    files = {"model.onnx": bytes(range(256)) * 8, "metadata.json": METADATA}
    path = write_zip(tmp_path / "p.zip", files)

    problems = problems_of(path, ArchiveLimits(max_uncompressed_bytes=1000))

    assert "entry 'model.onnx' declares 2048 bytes uncompressed, over the limit of 1000" in problems
    assert any(p.startswith("the archive declares 2074 bytes uncompressed") for p in problems)


def test_an_entry_that_expands_too_much_is_a_bomb(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": bytes(4 * MIB), "metadata.json": METADATA})

    (problem,) = problems_of(path)

    assert problem.startswith("entry 'model.onnx' has a compression ratio of ")
    assert problem.endswith(", over the limit of 200:1")


def test_small_files_may_compress_well(tmp_path: Path) -> None:
    """Below RATIO_FLOOR_BYTES the ratio alone proves nothing (zero-filled weights, label lists)."""
    path = write_zip(tmp_path / "p.zip", {"model.onnx": bytes(100_000), "metadata.json": METADATA})

    assert problems_of(path) == ()


def test_a_member_that_lies_about_its_size_cannot_be_read(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL, "metadata.json": b"[" * 5000 + b"]" * 5000})
    patch_entry(path, "metadata.json", file_size=100)

    with open_package(path, LIMITS) as package, pytest.raises(InvalidModel) as raised:
        package.read("metadata.json", LIMITS.max_metadata_bytes)

    assert raised.value.details[0].startswith("metadata.json cannot be read from the archive")


def test_a_member_over_its_read_limit_is_not_read(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL, "metadata.json": b" " * 2000})

    with open_package(path, LIMITS) as package, pytest.raises(InvalidModel) as raised:
        package.read("metadata.json", 1000)

    assert raised.value.details == ("metadata.json is 2000 bytes, over the limit of 1000 bytes",)


def test_a_corrupt_member_fails_its_crc_check(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("model.onnx", MODEL)
        archive.writestr("metadata.json", METADATA)
    data = path.read_bytes()
    path.write_bytes(data.replace(METADATA, METADATA.replace(b"regression", b"regressiom")))

    with open_package(path, LIMITS) as package, pytest.raises(InvalidModel) as raised:
        package.read("metadata.json", LIMITS.max_metadata_bytes)

    assert "Bad CRC-32" in raised.value.details[0]


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


# --- extraction -------------------------------------------------------------------------------------


def test_extract_package_writes_the_model_and_its_external_data_only(tmp_path: Path) -> None:
    zoo = make_external_data_zip(tmp_path)
    with zipfile.ZipFile(zoo.zip_path, "a") as archive:
        archive.writestr("notes/readme.txt", b"not for the model")

    onnx_path = extract_package(zoo.zip_path, tmp_path / "cache" / "m1", LIMITS)

    assert onnx_path == tmp_path / "cache" / "m1" / "external.onnx"
    assert sorted(p.name for p in onnx_path.parent.iterdir()) == ["external.onnx", "weights.bin"]
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (prediction,) = session.run(None, dict(zoo.sample))
    assert prediction.shape == (2, 1) and np.isfinite(prediction).all()


def test_extract_package_refuses_an_invalid_package(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "p.zip", {"model.onnx": MODEL})

    with pytest.raises(InvalidModel) as raised:
        extract_package(path, tmp_path / "out", LIMITS)

    assert raised.value.details == ("metadata.json is missing",)


def test_extract_package_refuses_external_data_outside_the_package(tmp_path: Path) -> None:
    zoo = make_external_data_zip(tmp_path, location="../weights.bin")

    with pytest.raises(InvalidModel) as raised:
        extract_package(zoo.zip_path, tmp_path / "out", LIMITS)

    assert raised.value.details == ("external data '../weights.bin' is not in the archive",)
    assert not (tmp_path / "weights.bin").exists()


def test_extraction_never_overwrites_a_file(tmp_path: Path) -> None:
    zoo = make_regressor_zip(tmp_path)
    extract_package(zoo.zip_path, tmp_path / "out", LIMITS)

    with pytest.raises(FileExistsError):
        extract_package(zoo.zip_path, tmp_path / "out", LIMITS)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_ratio"):
        ArchiveLimits(max_ratio=0)
