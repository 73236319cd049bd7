"""Reading and extracting a package: zip bombs and lying members stop the read, and only the model and
its external data are ever written to disk.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from omlsvc.core.errors import InvalidModel
from omlsvc.repository.archive import ArchiveLimits, extract_package, open_package
from omlsvc.repository.limits import MIB
from tests.modelzoo import make_external_data_zip, make_regressor_zip, write_zip
from tests.unit.repository.zips import LIMITS, METADATA, MODEL, patch_entry, problems_of

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
