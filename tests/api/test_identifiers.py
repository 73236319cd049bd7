"""Names are checked whole: a pattern ending in ``$`` also accepts a trailing newline, so every
identifier is matched with ``fullmatch`` and ``name\\n`` is refused wherever names are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from omlsvc.core.errors import InvalidInput
from omlsvc.wiring import Services
from tests import modelzoo
from tests.api.conftest import PASSWORD, Caller
from tests.api.forms import store_model, upload_model

JOBS = "/omlmod/v1/jobs"


def test_a_user_name_with_a_trailing_newline_is_refused(services: Services) -> None:
    with pytest.raises(InvalidInput, match="Invalid user name"):
        services.auth.add_user("carol\n", PASSWORD)
    assert "carol\n" not in {user.name for user in services.auth.list_users()}


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "house\n"), ("version", "1.0\n"), ("namespace", "HOMES\n")],
)
def test_model_fields_with_a_trailing_newline_are_refused(
    alice: Caller, tmp_path: Path, field: str, value: str
) -> None:
    fields = {"name": "house", "version": "1.0", field: value}
    result = upload_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, **fields)  # type: ignore[arg-type]
    assert result.status_code == 400, result.text
    assert "must" in result.text
    assert alice.get("/omlmod/v1/models").json["items"] == []


def test_a_namespace_with_a_trailing_newline_is_refused_on_update(alice: Caller, tmp_path: Path) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house")
    result = alice.post(f"/omlmod/v1/models/{model_id}", json={"namespace": "HOMES\n"})
    assert result.status_code == 400, result.text
    assert alice.get(f"/omlmod/v1/models/{model_id}").json.get("namespace") != "HOMES\n"


def test_a_uri_with_a_trailing_newline_is_refused(alice: Caller, tmp_path: Path) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house")
    result = alice.post("/omlmod/v1/deployment", json={"modelId": model_id, "uri": "house\n"})
    assert result.status_code == 400, result.text
    assert alice.get("/omlmod/v1/deployment").json["items"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("inputData", "IRIS_IN\n"),
        ("outputData", "IRIS_OUT\n"),
        ("inputSchemaName", "PUBLIC\n"),
        ("supplementalColumnNames", ["ID\n"]),
    ],
)
def test_job_table_and_column_names_with_a_trailing_newline_are_refused(
    alice: Caller, field: str, value: object
) -> None:
    properties = {
        "jobName": "IRIS_SCORES",
        "jobType": "MODEL_SCORING",
        "modelId": "00000000-0000-0000-0000-000000000000",
        "inputData": "IRIS_IN",
        "outputData": "IRIS_OUT",
        field: value,
    }
    result = alice.post(JOBS, json={"jobProperties": properties})
    assert result.status_code == 400, result.text
    assert field in " ".join([result.json["message"], *result.json.get("details", [])])
