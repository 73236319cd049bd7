"""The remote ``omlsvc`` commands, run as a user on a laptop runs them: from another working directory,
with nothing but ``OMLSVC_URL`` and a login, against a gunicorn-served service; the README walkthrough
end to end, and nothing on the local side but the stored login."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests import modelzoo
from tests.e2e.client_service import USER_PASSWORD, client_test_service, local_admin
from tests.e2e.commands import clean_environ, run_omlsvc
from tests.e2e.server import RunningService
from tests.e2e.test_jobs import iris_table


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("remote-cli-service")


@pytest.fixture(scope="module")
def service(data_dir: Path) -> Iterator[RunningService]:
    # tokens live 20 s: the CLI refreshes a stored one once half of that is gone
    with client_test_service(data_dir, environ={"OMLSVC_TOKEN_LIFETIME": "20"}) as running:
        yield running


class Laptop:
    """A user's machine: its own home (where the login is kept) and working directory, no omlsvc
    settings but ``OMLSVC_URL`` (and what a test adds)."""

    def __init__(self, root: Path, url: str) -> None:
        self.home = root / "home"
        self.cwd = root / "work"
        self.home.mkdir()
        self.cwd.mkdir()
        self.environ = clean_environ(drop=("OMLSVC_", "XDG_"))
        self.environ.update(HOME=str(self.home), OMLSVC_URL=url)

    @property
    def credentials(self) -> Path:
        return self.home / ".config" / "omlsvc" / "credentials.json"

    def omlsvc(self, *args: str, stdin: str = "", **environ: str) -> subprocess.CompletedProcess[str]:
        return run_omlsvc(*args, env={**self.environ, **environ}, stdin=stdin, cwd=self.cwd, timeout=120)

    def ok(self, *args: str, stdin: str = "") -> str:
        result = self.omlsvc(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def files(self) -> set[str]:
        """Everything the commands left on this machine."""
        return {
            str(p.relative_to(self.home.parent))
            for root in (self.home, self.cwd)
            for p in root.rglob("*")
            if p.is_file()
        }


@pytest.fixture
def laptop(tmp_path: Path, service: RunningService) -> Laptop:
    # the interpreter must find the omlsvc package from another working directory
    return Laptop(tmp_path, service.url)


@pytest.mark.slow
def test_the_readme_walkthrough_runs_remotely_from_a_laptop(
    laptop: Laptop, service: RunningService, data_dir: Path, tmp_path: Path
) -> None:
    # what the server's administrator and the user prepare first (no command runs while it is built)
    table = iris_table(data_dir)
    local_admin(data_dir, "tables", "grant", table, "alice")
    classifier = modelzoo.make_zipmap_classifier_zip(tmp_path)
    regressor = modelzoo.make_regressor_zip(tmp_path)
    image_model = modelzoo.make_image_classifier_zip(tmp_path)
    (laptop.cwd / "house.zip").write_bytes(regressor.zip_path.read_bytes())
    (laptop.cwd / "pets.zip").write_bytes(image_model.zip_path.read_bytes())
    Image.new("RGB", (20, 20), (200, 40, 40)).save(laptop.cwd / "cat.png")
    (laptop.cwd / "records.json").write_text(
        json.dumps({"inputRecords": [{"float_input": regressor.sample["float_input"].tolist()}]})
    )

    signed_in = laptop.ok(
        "login", service.url, "--username", "alice", "--password-stdin", stdin=USER_PASSWORD
    )
    assert "signed in" in signed_in and "alice" in signed_in
    assert stat.S_IMODE(laptop.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(laptop.credentials.parent.stat().st_mode) == 0o700
    stored = json.loads(laptop.credentials.read_text())
    assert USER_PASSWORD not in laptop.credentials.read_text() and stored["username"] == "alice"

    model_id = laptop.ok(
        "models",
        "push",
        "house.zip",
        "--name",
        "house_rg",
        "--version",
        "1.0",
        "--namespace",
        "DEMO",
        "--shared",
    ).strip()
    pets_id = laptop.ok(
        "models", "push", "pets.zip", "--name", "pets", "--version", "1", "--type", "ONNX_IMG"
    ).strip()
    listed = [line.split("\t") for line in laptop.ok("models", "list").splitlines()]
    assert [model_id, "house_rg", "1.0", "ONNX", "alice", "shared", "DEMO"] in listed
    as_json = json.loads(laptop.ok("models", "list", "--name", "pets", "--json"))
    assert [m["modelId"] for m in as_json] == [pets_id]
    shown = json.loads(laptop.ok("models", "show", model_id))
    assert shown["metadata"]["miningFunction"] == "REGRESSION" and shown["createdBy"] == "alice"

    assert laptop.ok("deploy", model_id, "house_rg").startswith(f"deployed {model_id}")
    laptop.ok("deploy", pets_id, "pets")
    assert f"house_rg\t{model_id}\thouse_rg\t1.0\talice" in laptop.ok("deployments", "list")
    scored = json.loads(laptop.ok("score", "house_rg", "--json", "records.json"))
    assert [set(r) for r in scored["scoringResults"]] == [{"regression"}, {"regression"}]
    classified = json.loads(laptop.ok("score", "pets", "--image", "cat.png", "--top-n", "3"))
    assert len(classified["scoringResults"][0]["classifications"]) == 3

    blocked = laptop.omlsvc("models", "rm", model_id)
    assert blocked.returncode == 1 and "(CONFLICT)" in blocked.stderr and "Traceback" not in blocked.stderr

    # a batch job over a table in the service's database, which an administrator lets alice read
    classifier_id = laptop.ok(
        "models",
        "push",
        str(classifier.zip_path),
        "--name",
        "iris",
        "--version",
        "1",
    ).strip()
    job = {
        "jobSchedule": {"jobStartDate": "2099-01-01T00:00:00Z"},
        "jobProperties": {
            "jobName": "IRIS_NIGHTLY",
            "jobType": "MODEL_SCORING",
            "modelId": classifier_id,
            "inputData": table,
            "outputData": "IRIS_OUT",
            "supplementalColumnNames": ["id", "species"],
            "topN": 2,
        },
    }
    (laptop.cwd / "job.json").write_text(json.dumps(job))
    job_id = laptop.ok("jobs", "create", "job.json").strip()
    assert job_id.startswith("OML$")
    assert laptop.ok("jobs", "list").split("\t")[:3] == [job_id, "IRIS_NIGHTLY", "SCHEDULED"]
    ran = laptop.ok("jobs", "run", job_id, "--wait")
    assert ran.startswith("SUCCEEDED\t150 rows"), ran
    shown_job = json.loads(laptop.ok("jobs", "show", job_id))
    assert shown_job["lastRunStatus"] == "SUCCEEDED" and shown_job["runs"][0]["rowsScored"] == 150
    laptop.ok("jobs", "rm", job_id, "--drop-output")

    for uri in ("house_rg", "pets"):
        assert laptop.ok("undeploy", uri) == f"undeployed {uri}\n"
    for removed in (model_id, pets_id, classifier_id):
        laptop.ok("models", "rm", removed)

    # the login is all the laptop keeps: no database, no data folder, no copy of a model
    assert laptop.files() == {
        "home/.config/omlsvc/credentials.json",
        "work/house.zip",
        "work/pets.zip",
        "work/cat.png",
        "work/records.json",
        "work/job.json",
    }


@pytest.mark.slow
def test_a_refreshed_token_is_kept_and_logout_revokes_the_login(
    laptop: Laptop, service: RunningService
) -> None:
    laptop.ok("login", service.url, "-u", "bob", "--password-stdin", stdin=USER_PASSWORD)
    first = json.loads(laptop.credentials.read_text())["token"]
    time.sleep(10.5)  # past half of the token's 20 s: the next command refreshes it first
    assert laptop.ok("models", "list") == ""
    refreshed = json.loads(laptop.credentials.read_text())["token"]
    assert refreshed != first
    time.sleep(10.5)  # the first token has expired; the refreshed one is refreshed again
    assert laptop.ok("deployments", "list", "--json") == "[]\n"

    current = json.loads(laptop.credentials.read_text())["token"]
    assert laptop.ok("logout").startswith("signed out")
    assert not laptop.credentials.exists()
    answer = requests.get(
        service.url + "/omlmod/v1/models", headers={"Authorization": f"Bearer {current}"}, timeout=10
    )
    assert answer.status_code == 401
    refused = laptop.omlsvc("models", "list")
    assert refused.returncode == 2 and "omlsvc login URL" in refused.stderr


def test_a_token_in_the_environment_needs_no_login_and_nothing_else_is_guessed(
    laptop: Laptop, service: RunningService
) -> None:
    token = service.token("alice", USER_PASSWORD)
    assert laptop.omlsvc("deployments", "list", OMLSVC_TOKEN=token).returncode == 0
    assert laptop.files() == set()
    bad = laptop.omlsvc("models", "show", "nope", OMLSVC_TOKEN=token)
    assert bad.returncode == 1 and "(NOT_FOUND)" in bad.stderr
    nowhere = laptop.omlsvc("models", "list")
    assert nowhere.returncode == 2 and "Not signed in to" in nowhere.stderr
    wrong = laptop.omlsvc("login", service.url, "-u", "alice", "--password-stdin", stdin="wrong-password\n")
    assert wrong.returncode == 1 and "(UNAUTHORIZED)" in wrong.stderr and not laptop.credentials.exists()
    time.sleep(1.2)  # the login back-off of this service's short settings


def test_the_help_says_which_commands_are_local() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "omlsvc.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for line in ("serve       local:", "db          local:", "users       local:", "local       local:"):
        assert line in text
    assert "models      remote" in text
    jobs = subprocess.run(
        [sys.executable, "-m", "omlsvc.cli", "jobs", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "worker    local:" in jobs


def test_a_remote_command_loads_nothing_of_the_server(laptop: Laptop, service: RunningService) -> None:
    """No database driver, web framework or model runtime is even imported by a remote command."""
    probe = (
        "import os, sys\n"
        "from omlsvc.cli import main\n"
        "status = main(['deployments', 'list', '--json'], dict(os.environ))\n"
        "heavy = ('sqlalchemy', 'falcon', 'onnxruntime', 'onnx', 'numpy', 'gunicorn', 'jwt')\n"
        "print(status, sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=laptop.cwd,
        env={**laptop.environ, "OMLSVC_TOKEN": service.token("alice", USER_PASSWORD)},
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines()[-1] == "0 []", result.stdout + result.stderr
