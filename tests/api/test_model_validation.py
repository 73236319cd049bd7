"""Broken model packages, uploaded through the HTTP API: each gets one 400 naming every problem,
and leaves no row, no chunk and no temporary file behind.

The rules themselves are exercised one by one in ``tests/unit/repository``; here each family of
rule is shown end to end, as a client meets it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import upload_model
from tests.api.test_models import count_rows


def _symlink_zip(directory: Path) -> bytes:
    good = modelzoo.make_regressor_zip(directory)
    buffer = io.BytesIO()
    with zipfile.ZipFile(good.zip_path) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        link = zipfile.ZipInfo("label.txt")
        link.external_attr = (0o120777) << 16
        target.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _bomb(directory: Path) -> bytes:
    good = modelzoo.make_regressor_zip(directory)
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(good.zip_path) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            target.writestr(item.filename, source.read(item))
        target.writestr("padding.bin", b"\0" * (64 * 1024 * 1024))
    return buffer.getvalue()


def _regressor_files(directory: Path) -> dict[str, bytes]:
    zoo = modelzoo.make_regressor_zip(directory)
    with zipfile.ZipFile(zoo.zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _without(name: str) -> Callable[[Path], bytes]:
    def build(directory: Path) -> bytes:
        files = {k: v for k, v in _regressor_files(directory).items() if k != name}
        return modelzoo.write_zip(directory / "broken.zip", files).read_bytes()

    return build


def _with(name: str, content: bytes) -> Callable[[Path], bytes]:
    def build(directory: Path) -> bytes:
        files = {**_regressor_files(directory), name: content}
        return modelzoo.write_zip(directory / "broken.zip", files).read_bytes()

    return build


BROKEN: dict[str, tuple[Callable[[Path], bytes], str, str]] = {
    "not a zip": (lambda d: b"this is not a zip file", "ONNX", "zip"),
    "truncated zip": (lambda d: modelzoo.make_regressor_zip(d).zip_path.read_bytes()[:-40], "ONNX", "zip"),
    "no onnx": (_without("regressor.onnx"), "ONNX", ".onnx"),
    "no metadata": (_without("metadata.json"), "ONNX", "metadata.json"),
    "metadata not json": (_with("metadata.json", b"{function: regression"), "ONNX", "metadata.json"),
    "metadata without function": (
        _with("metadata.json", b'{"regressionOutput": "variable"}'),
        "ONNX",
        "function",
    ),
    "unknown function": (_with("metadata.json", b'{"function": "ranking"}'), "ONNX", "function"),
    "named output missing": (
        _with("metadata.json", b'{"function": "regression", "regressionOutput": "nope"}'),
        "ONNX",
        "nope",
    ),
    "onnx that is not onnx": (_with("regressor.onnx", b"\x08\x07garbage"), "ONNX", "onnx"),
    "two onnx files": (_with("second.onnx", b"x"), "ONNX", ".onnx"),
    "path traversal": (_with("../../evil.txt", b"x"), "ONNX", ".."),
    "absolute name": (_with("/etc/cron.d/evil", b"x"), "ONNX", "absolute"),
    "symlink entry": (_symlink_zip, "ONNX", "symbolic link"),
    "zip bomb": (_bomb, "ONNX", "ratio"),
    "tabular model declared as image": (
        lambda d: modelzoo.make_regressor_zip(d).zip_path.read_bytes(),
        "ONNX_IMG",
        "rank",
    ),
    "classifier without label.txt": (
        lambda d: modelzoo.make_plain_classifier_zip(d, labels=None).zip_path.read_bytes(),
        "ONNX",
        "label",
    ),
    "label.txt with the wrong count": (
        lambda d: modelzoo.make_plain_classifier_zip(d, labels=["a", "b"]).zip_path.read_bytes(),
        "ONNX",
        "label",
    ),
    "clustering with both outputs": (
        lambda d: modelzoo.make_kmeans_zip(
            d,
            metadata={
                "function": "clustering",
                "clusteringDistanceOutput": "scores",
                "clusteringProbOutput": "scores",
            },
        ).zip_path.read_bytes(),
        "ONNX",
        "clustering",
    ),
    "external data outside the zip": (
        lambda d: modelzoo.make_external_data_zip(d, location="../../etc/passwd").zip_path.read_bytes(),
        "ONNX",
        "external",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_package_is_one_400_that_names_the_problem_and_leaves_nothing(
    alice: Caller, tmp_path: Path, database: tuple[str, Engine], settings: Settings, case: str
) -> None:
    build, model_type, fragment = BROKEN[case]
    result = upload_model(alice, build(tmp_path), model_type=model_type)
    assert result.status_code == 400, result.text
    assert result.json["code"] == "INVALID_MODEL"
    problems = " ".join([result.json["message"], *result.json.get("details", [])]).lower()
    assert fragment.lower() in problems, problems
    assert count_rows(database[1]) == (0, 0)
    assert list((settings.data_dir / "tmp").iterdir()) == []
