"""The ``omlsvc`` command, run as a user runs it: users, schema, DDL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from omlsvc.db.schema import SCHEMA_VERSION
from tests.e2e.commands import clean_environ, run_omlsvc


def omlsvc(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_omlsvc(*args, env={**clean_environ(), "OMLSVC_DATA_DIR": str(data_dir)}, stdin=stdin)


def test_db_init_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = omlsvc(tmp_path, "db", "init")
        assert result.returncode == 0, result.stderr
        assert f"schema version {SCHEMA_VERSION}" in result.stdout


def test_users_are_added_listed_changed_and_disabled(tmp_path: Path) -> None:
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    added = omlsvc(tmp_path, "users", "add", "ANALYST1", "--password-stdin", stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    assert (
        omlsvc(
            tmp_path, "users", "add", "boss", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n"
        ).returncode
        == 0
    )
    again = omlsvc(tmp_path, "users", "add", "ANALYST1", "--password-stdin", stdin="s3cret-pass\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert (
        omlsvc(tmp_path, "users", "passwd", "ANALYST1", "--password-stdin", stdin="n3w-password\n").returncode
        == 0
    )
    assert omlsvc(tmp_path, "users", "disable", "ANALYST1").returncode == 0
    listing = omlsvc(tmp_path, "users", "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [
        ["ANALYST1", "developer", "disabled"],
        ["boss", "developer,admin", "active"],
    ]


def test_role_password_and_disable_changes_end_the_users_sessions(tmp_path: Path) -> None:
    """A token obtained over HTTP stops working (within a second) after each change made with the CLI."""
    import falcon.testing

    from omlsvc.config import Settings
    from omlsvc.rest.app import create_app
    from omlsvc.wiring import build_services

    assert omlsvc(tmp_path, "db", "init").returncode == 0
    assert (
        omlsvc(tmp_path, "users", "add", "ANALYST1", "--password-stdin", stdin="s3cret-pass\n").returncode
        == 0
    )
    settings = Settings.for_tests(tmp_path)
    services = build_services(settings)
    client = falcon.testing.TestClient(create_app(settings, services=services))

    def token(password: str) -> str:
        body = {"grant_type": "password", "username": "ANALYST1", "password": password}
        result = client.simulate_post("/omlusers/api/oauth2/v1/token", json=body)
        assert result.status_code == 200, result.text
        return str(result.json["accessToken"])

    def refused_within_a_second(access_token: str) -> None:
        headers = {"Authorization": f"Bearer {access_token}"}
        deadline = time.monotonic() + 1.5
        while client.simulate_get("/omlmod/v1/models", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "the token still works"
            time.sleep(0.05)

    try:
        before = token("s3cret-pass")
        changed = omlsvc(tmp_path, "users", "role", "ANALYST1", "admin")
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout.strip() == "ANALYST1 is now admin"
        refused_within_a_second(before)
        listing = omlsvc(tmp_path, "users", "list").stdout.splitlines()
        assert listing[0].split("\t")[:3] == ["ANALYST1", "developer,admin", "active"]

        before = token("s3cret-pass")
        assert (
            omlsvc(
                tmp_path, "users", "passwd", "ANALYST1", "--password-stdin", stdin="n3w-password\n"
            ).returncode
            == 0
        )
        refused_within_a_second(before)

        before = token("n3w-password")
        assert omlsvc(tmp_path, "users", "disable", "ANALYST1").returncode == 0
        assert omlsvc(tmp_path, "users", "enable", "ANALYST1").returncode == 0
        refused_within_a_second(before)
        assert token("n3w-password")
    finally:
        services.engine.dispose()


def test_an_unknown_role_is_a_usage_error(tmp_path: Path) -> None:
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    result = omlsvc(tmp_path, "users", "role", "admin", "root")
    assert result.returncode == 2
    assert "invalid choice: 'root'" in result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "add", "x y", "--password-stdin"), "s3cret-pass\n", "Invalid user name"),
        (("users", "add", "carol", "--password-stdin"), "short\n", "at least 8"),
        (("users", "passwd", "nobody", "--password-stdin"), "s3cret-pass\n", "does not exist"),
        (("users", "role", "nobody", "admin"), "", "does not exist"),
    ],
)
def test_mistakes_are_one_line_errors(
    tmp_path: Path, args: tuple[str, ...], stdin: str, message: str
) -> None:
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    result = omlsvc(tmp_path, *args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_the_command_naming_the_variable(tmp_path: Path) -> None:
    environ = {**os.environ, "OMLSVC_WORKERS": "lots"}
    result = subprocess.run(
        [sys.executable, "-m", "omlsvc.cli", "db", "init"],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "omlsvc: OMLSVC_WORKERS='lots': invalid literal for int() with base 10: 'lots'"
    )


def test_ddl_is_printed_for_each_dialect(tmp_path: Path) -> None:
    result = omlsvc(tmp_path, "db", "ddl", "--dialect", "oracle")
    assert "data BLOB NOT NULL" in result.stdout


@pytest.mark.slow
def test_models_are_pushed_listed_shown_deployed_and_removed(tmp_path: Path) -> None:
    from tests import modelzoo

    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    assert (
        omlsvc(tmp_path, "users", "add", "ANALYST1", "--password-stdin", stdin="s3cret-pass\n").returncode
        == 0
    )
    pushed = omlsvc(
        tmp_path,
        "local",
        "models",
        "push",
        str(zoo.zip_path),
        "--name",
        "iris",
        "--version",
        "1.0",
        "--namespace",
        "DEMO",
        "--user",
        "ANALYST1",
    )
    assert pushed.returncode == 0, pushed.stderr
    model_id = pushed.stdout.strip()
    listed = omlsvc(tmp_path, "local", "models", "list", "--user", "ANALYST1").stdout.split("\t")
    assert listed[:6] == [model_id, "iris", "1.0", "ONNX", "CLASSIFICATION", "ANALYST1"]
    shown = omlsvc(tmp_path, "local", "models", "show", model_id, "--user", "ANALYST1")
    assert '"miningFunction": "CLASSIFICATION"' in shown.stdout
    assert omlsvc(tmp_path, "local", "deploy", model_id, "iris", "--user", "ANALYST1").returncode == 0
    assert omlsvc(tmp_path, "local", "deployments", "list").stdout.startswith(f"iris\t{model_id}")
    blocked = omlsvc(tmp_path, "local", "models", "rm", model_id, "--user", "ANALYST1")
    assert blocked.returncode == 1 and "undeploy" in blocked.stderr
    assert omlsvc(tmp_path, "local", "undeploy", "iris", "--user", "ANALYST1").returncode == 0
    assert omlsvc(tmp_path, "local", "models", "rm", model_id, "--user", "ANALYST1").returncode == 0


def test_a_broken_package_is_reported_with_every_problem(tmp_path: Path) -> None:
    from tests import modelzoo

    broken = modelzoo.write_zip(tmp_path / "broken.zip", {"metadata.json": b"{}"})
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    assert (
        omlsvc(
            tmp_path, "users", "add", "admin", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n"
        ).returncode
        == 0
    )
    result = omlsvc(tmp_path, "local", "models", "push", str(broken), "--name", "m", "--version", "1")
    assert result.returncode == 1
    assert "invalid" in result.stderr
    assert "  - " in result.stderr


@pytest.mark.slow
def test_score_reads_records_from_a_json_file_or_an_image(tmp_path: Path) -> None:
    import io
    import json

    from PIL import Image

    from tests import modelzoo

    assert omlsvc(tmp_path, "db", "init").returncode == 0
    assert (
        omlsvc(
            tmp_path, "users", "add", "admin", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n"
        ).returncode
        == 0
    )
    regressor = modelzoo.make_regressor_zip(tmp_path)
    image_model = modelzoo.make_image_classifier_zip(tmp_path)
    for name, zoo, kind in (("house", regressor, "ONNX"), ("pets", image_model, "ONNX_IMG")):
        pushed = omlsvc(
            tmp_path,
            "local",
            "models",
            "push",
            str(zoo.zip_path),
            "--name",
            name,
            "--version",
            "1",
            "--type",
            kind,
        )
        assert omlsvc(tmp_path, "local", "deploy", pushed.stdout.strip(), name).returncode == 0

    records = tmp_path / "records.json"
    records.write_text(
        json.dumps({"inputRecords": [{"float_input": regressor.sample["float_input"].tolist()}]})
    )
    scored = omlsvc(tmp_path, "local", "score", "house", "--json", str(records))
    assert scored.returncode == 0, scored.stderr
    assert [set(r) for r in json.loads(scored.stdout)["scoringResults"]] == [{"regression"}, {"regression"}]

    picture = tmp_path / "cat.png"
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 40, 40)).save(buffer, format="PNG")
    picture.write_bytes(buffer.getvalue())
    classified = omlsvc(tmp_path, "local", "score", "pets", "--image", str(picture), "--top-n", "2")
    assert classified.returncode == 0, classified.stderr
    (result,) = json.loads(classified.stdout)["scoringResults"]
    assert len(result["classifications"]) == 2

    wrong = omlsvc(tmp_path, "local", "score", "house", "--image", str(picture))
    assert wrong.returncode == 1
    assert "not an image model" in wrong.stderr
