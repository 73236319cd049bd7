"""The ``omlsvc`` command, run as a user runs it: users, schema, DDL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def omlsvc(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OMLSVC_")}
    environ["OMLSVC_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "omlsvc.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def test_db_init_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = omlsvc(tmp_path, "db", "init")
        assert result.returncode == 0, result.stderr
        assert "schema version 1" in result.stdout


def test_users_are_added_listed_changed_and_disabled(tmp_path: Path) -> None:
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    added = omlsvc(tmp_path, "users", "add", "ANALYST1", "--password-stdin", stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    assert omlsvc(tmp_path, "users", "add", "boss", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n").returncode == 0
    again = omlsvc(tmp_path, "users", "add", "ANALYST1", "--password-stdin", stdin="s3cret-pass\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert omlsvc(tmp_path, "users", "passwd", "ANALYST1", "--password-stdin", stdin="n3w-password\n").returncode == 0
    assert omlsvc(tmp_path, "users", "disable", "ANALYST1").returncode == 0
    listing = omlsvc(tmp_path, "users", "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [
        ["ANALYST1", "developer", "disabled"],
        ["boss", "developer,admin", "active"],
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "add", "x y", "--password-stdin"), "s3cret-pass\n", "Invalid user name"),
        (("users", "add", "carol", "--password-stdin"), "short\n", "at least 8"),
        (("users", "passwd", "nobody", "--password-stdin"), "s3cret-pass\n", "does not exist"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path: Path, args: tuple[str, ...], stdin: str, message: str) -> None:
    assert omlsvc(tmp_path, "db", "init").returncode == 0
    result = omlsvc(tmp_path, *args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_the_command_naming_the_variable(tmp_path: Path) -> None:
    environ = {**os.environ, "OMLSVC_WORKERS": "lots"}
    result = subprocess.run(
        [sys.executable, "-m", "omlsvc.cli", "db", "init"], capture_output=True, text=True, env=environ, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "omlsvc: OMLSVC_WORKERS='lots': invalid literal for int() with base 10: 'lots'"


def test_ddl_is_printed_for_each_dialect(tmp_path: Path) -> None:
    result = omlsvc(tmp_path, "db", "ddl", "--dialect", "oracle")
    assert "data BLOB NOT NULL" in result.stdout
