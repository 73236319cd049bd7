"""The package layout (spec section 7): exactly one ``.onnx``, a ``metadata.json`` and optionally a
``label.txt`` at the top level; one enclosing folder and macOS Finder's clutter are tolerated.
"""

from __future__ import annotations

from pathlib import Path

from tests.modelzoo import package_files, write_zip
from tests.unit.repository.zips import METADATA, MODEL, problems_of, scan

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
