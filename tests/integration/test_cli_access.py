"""``omlsvc users add --db-role``, ``users show`` and ``omlsvc tables``: a user's database identity and,
on SQLite, the tables an administrator lets their jobs read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import text

from omlsvc.cli import main
from omlsvc.db.engine import make_engine


def run(
    data_dir: Path, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    """Run the command in this process, as a shell would: (exit status, stdout, stderr)."""
    capsys.readouterr()
    environ = {"OMLSVC_DATA_DIR": str(data_dir)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        status = main(list(args), environ)
    out, err = capsys.readouterr()
    return status, out, err


def test_a_users_database_identity_is_set_when_added_and_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, capsys, "db", "init")[0] == 0
    added = run(
        tmp_path,
        capsys,
        "users",
        "add",
        "Alice",
        "--db-role",
        "analytics",
        "--password-stdin",
        stdin="s3cret-pass\n",
    )
    assert added[0] == 0, added
    assert run(tmp_path, capsys, "users", "add", "Bob", "--password-stdin", stdin="s3cret-pass\n")[0] == 0
    status, shown, _ = run(tmp_path, capsys, "users", "show", "Alice")
    assert status == 0
    assert "db_role\tanalytics\n" in shown and "roles\tdeveloper\n" in shown
    assert "db_role\tBob (default)\n" in run(tmp_path, capsys, "users", "show", "Bob")[1]
    bad = run(
        tmp_path,
        capsys,
        "users",
        "add",
        "Carol",
        "--db-role",
        'x"; DROP ROLE y',
        "--password-stdin",
        stdin="s3cret-pass\n",
    )
    assert bad[0] == 1 and "Invalid database role" in bad[2]
    missing = run(tmp_path, capsys, "users", "show", "nobody")
    assert missing[0] == 1 and "does not exist" in missing[2]


def test_tables_are_granted_listed_and_revoked_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, capsys, "db", "init")[0] == 0
    assert run(tmp_path, capsys, "users", "add", "alice", "--password-stdin", stdin="s3cret-pass\n")[0] == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'omlsvc.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE iris_in (id INTEGER PRIMARY KEY, x FLOAT)"))
    engine.dispose()

    status, out, _ = run(tmp_path, capsys, "tables", "grant", "IRIS_IN", "alice")
    assert (status, out) == (0, "granted iris_in to alice\n")  # the table's real name is recorded
    assert run(tmp_path, capsys, "tables", "grant", "iris_in", "alice")[2].endswith(
        "already granted to alice.\n"
    )
    listed = run(tmp_path, capsys, "tables", "list", "alice")[1].split("\t")
    assert listed[:3] == ["alice", "iris_in", "admin"]
    for refused, why in (
        (("tables", "grant", "users", "alice"), "one of omlsvc's own tables"),
        (("tables", "grant", "no_such_table", "alice"), "There is no table or view"),
        (("tables", "grant", "iris_in", "nobody"), "does not exist"),
    ):
        status, _, err = run(tmp_path, capsys, *refused)
        assert status == 1 and why in err, err
    assert run(tmp_path, capsys, "tables", "revoke", "iris_in", "alice")[1] == "revoked iris_in from alice\n"
    assert run(tmp_path, capsys, "tables", "list")[1] == ""
    assert run(tmp_path, capsys, "tables", "revoke", "iris_in", "alice")[0] == 1
