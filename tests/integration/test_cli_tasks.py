"""``omlsvc local models import|variant|profile`` (issue 15): tasks from the command line, waited on in the
command itself (no server runs), on SQLite."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from omlsvc.cli import main
from tests import modelzoo
from tests.httpsource import serving


def run(data_dir: Path, capsys: pytest.CaptureFixture[str], *args: str, **extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(args), {"OMLSVC_DATA_DIR": str(data_dir), **extra})
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow
def test_import_then_derive_then_profile_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert run(data, capsys, "db", "init")[0] == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
        assert run(data, capsys, "users", "add", "admin", "--role", "admin", "--password-stdin")[0] == 0
    zoo = modelzoo.make_cnn_zip(tmp_path)
    served = zoo.zip_path.read_bytes()
    with serving() as source:
        source.files["/cnn.zip"] = served
        url = source.url("/cnn.zip")
        refused = run(data, capsys, "local", "models", "import", url, "--name", "cnn", "--version", "1")
        assert refused[0] == 1 and "OMLSVC_IMPORT_ALLOW" in refused[2]
        allow = {"OMLSVC_IMPORT_ALLOW": "127.0.0.1/32"}
        status, out, err = run(
            data,
            capsys,
            "local",
            "models",
            "import",
            url,
            "--name",
            "cnn",
            "--version",
            "1",
            "--type",
            "ONNX_IMG",
            "--sha256",
            hashlib.sha256(served).hexdigest(),
            **allow,
        )
    assert status == 0, err
    imported = json.loads(out)
    assert imported["sha256"] == hashlib.sha256(served).hexdigest()
    status, out, err = run(
        data, capsys, "local", "models", "variant", imported["modelId"], "--kind", "int8", "--version", "1.1"
    )
    assert status == 0, err
    assert json.loads(out)["variantOnnxBytes"] < json.loads(out)["sourceOnnxBytes"]
    assert "no profiles yet" in run(data, capsys, "local", "models", "profile", imported["modelId"])[1]
    status, out, err = run(
        data,
        capsys,
        "local",
        "models",
        "profile",
        imported["modelId"],
        "--run",
        "--batch-sizes",
        "1,2",
        "--seconds",
        "0.1",
    )
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["provider", "batch", "p50"]
    assert [line.split()[:2] for line in lines[1:]] == [["CPU", "1"], ["CPU", "2"]]
