"""Requests recorded from Oracle's own published client material, replayed unchanged (issue 17).

Oracle publishes Postman collections for OML Services (``oracle-samples/oracle-db-examples``,
``machine-learning/oml-services/postman-collection-examples``): token acquisition, ONNX classical ML,
ONNX image classification and batch scoring. Each request below is written down as the collection
sends it: method, URL with Postman's ``{{variables}}``, headers, and the raw body text byte for byte
(tabs, newlines, ``"maxRuns": "50"`` as a string, ``"age": [["NaN"]]``), and it is replayed the way
Postman does: variables filled in from an environment, later requests reading what earlier answers
set (``jsonData.accessToken``, ``jsonData.modelId``). The files are our own models (a Titanic-shaped
pipeline, a tiny image classifier, a regressor) and the one name we substitute beyond the
collection's variables is the batch job's input table (``CUSTOMERS360``), made per test so tests
can run side by side on one database.

The answers are checked for what the collections' scripts read and for the shapes Oracle's OpenAPI
file gives them (the differences we keep are listed in the README, "Differences from Oracle's OpenAPI file").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from falcon.testing import Result, TestClient
from sqlalchemy import Column, Engine, Float, Integer, MetaData, Table

from omlsvc.jobs.options import RunnerOptions
from omlsvc.wiring import Services, build_runner
from tests import modelzoo
from tests.api.conftest import PASSWORD
from tests.api.forms import multipart
from tests.jobdata import InputTables, count_rows

_VARIABLE = re.compile(r"\{\{(\w+)\}\}")


@dataclass
class Recorded:
    """One request of a collection, as written there."""

    name: str
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # body mode "raw"
    form: dict[str, str] | None = None  # body mode "formdata": text fields
    files: dict[str, str] | None = None  # formdata file fields -> the environment variable of the file
    bearer: bool = False  # the collection's auth: bearer {{token}}


@dataclass
class Postman:
    """Replays recorded requests against the app with an environment, as Postman's runner does."""

    client: TestClient
    environment: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        return _VARIABLE.sub(lambda match: str(self.environment[match.group(1)]), text)

    def send(self, request: Recorded) -> Result:
        url = self.fill(request.url).removeprefix(self.environment["omlserver"])
        path, _, query = url.partition("?")
        headers = {key: self.fill(value) for key, value in request.headers.items() if key}
        if request.bearer:
            headers["Authorization"] = f"Bearer {self.environment['token']}"
        body: bytes | None = None
        if request.raw is not None:
            body = self.fill(request.raw).encode()
        elif request.form is not None or request.files:
            fields = {key: self.fill(value) for key, value in (request.form or {}).items()}
            files = {
                key: (f"{source}.bin", self.files[source]) for key, source in (request.files or {}).items()
            }
            body, headers["Content-Type"] = multipart(fields, files)
        return self.client.simulate_request(
            request.method, path, query_string=query or None, headers=headers, body=body
        )


# -- the collections, as recorded ------------------------------------------------------------------

#: "1.OML User Token Aquisition": the older tenant/database path, a body with tabs and newlines.
TOKEN_COLLECTION = [
    Recorded(
        "Get User Token ",
        "POST",
        "{{omlserver}}/omlusers/tenants/{{tenant}}/databases/{{database}}/api/oauth2/v1/token",
        {"Content-Type": "application/json"},
        raw='{\n\t"grant_type":"password",\n\t"username": "{{username}}",\n\t"password": "{{password}}"\n\t\n}',
    ),
]

#: "4.ONNX Classical ML": store, inspect, deploy and score the Titanic pipeline, then clean up.
ONNX_COLLECTION = [
    Recorded("List All Models", "GET", "{{omlserver}}/omlmod/v1/models", bearer=True),
    Recorded(
        "List ONNX ML Models", "GET", "{{omlserver}}/omlmod/v1/models?namespace=ONNX_MODELS", bearer=True
    ),
    Recorded(
        "Store ONNX ML Model",
        "POST",
        "{{omlserver}}/omlmod/v1/models",
        form={
            "modelName": "{{onnxMLModelName}}",
            "version": "1.1",
            "modelType": "ONNX",
            "shared": "true",
            "namespace": "ONNX_MODELS",
        },
        files={"modelData": "sk_cl_pipeline_titanic_onnx.zip"},
        bearer=True,
    ),
    Recorded(
        "Update ONNX Model Namespace",
        "POST",
        "{{omlserver}}/omlmod/v1/models/{{onnxMLModelID}}",
        {"Content-Type": "application/json"},
        raw='{\n    "namespace": "NEW_ONNX_ML_PROJECT"\n}',
        bearer=True,
    ),
    Recorded(
        "Get ONNX Model details",
        "GET",
        "{{omlserver}}/omlmod/v1/models/{{onnxMLModelID}}",
        raw="",
        bearer=True,
    ),
    Recorded(
        "Get ONNX Model Metadata",
        "GET",
        "{{omlserver}}/omlmod/v1/models/{{onnxMLModelID}}/metadata",
        raw="",
        bearer=True,
    ),
    Recorded(
        "Get ONNX Model Content (RAW BLOB)",
        "GET",
        "{{omlserver}}/omlmod/v1/models/{{onnxMLModelID}}/content",
        raw="",
        bearer=True,
    ),
    Recorded(
        "Create ONNX Scoring Endpoint",
        "POST",
        "{{omlserver}}/omlmod/v1/deployment",
        {"Content-Type": "application/json"},
        raw='{\n\t"modelId":"{{onnxMLModelID}}",\n\t"uri":"{{onnxMLModelURI}}"\n}',
        bearer=True,
    ),
    Recorded(
        "Get ONNX Model deployment details",
        "GET",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxMLModelURI}}",
        bearer=True,
    ),
    Recorded(
        "Get ONNX Model Scoring REST API",
        "GET",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxMLModelURI}}/api",
        bearer=True,
    ),
    Recorded("List All Model deployments", "GET", "{{omlserver}}/omlmod/v1/deployment", raw="", bearer=True),
    Recorded(
        "List ONNX Model deployments",
        "GET",
        "{{omlserver}}/omlmod/v1/deployment?namespace=ONNX_MODELS",
        raw="",
        bearer=True,
    ),
    Recorded(
        "Score ONNX ML Model (Single Classification)",
        "POST",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxMLModelURI}}/score",
        {"Content-Type": "application/json"},
        raw=(
            '{\n     "inputRecords":[{ "pclass":  [["3"]],\n                       "sex":     [["male"]],\n'
            '                      "age":     [["NaN"]],\n                      "fare":    [[22.3583]],\n'
            '                      "embarked":[["C"]]\n                    }]\n}'
        ),
        bearer=True,
    ),
    Recorded(
        "Score ONNX ML Model (Multiple Classifications)",
        "POST",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxMLModelURI}}/score",
        {"Content-Type": "application/json"},
        raw=(
            '{\n     "inputRecords":[{ "pclass":  [["3"],    ["3"]],\n'
            '                      "sex":     [["male"], ["female"]],\n'
            '                      "age":     [["NaN"],  ["5"]],\n'
            '                      "fare":    [[22.3583],[22.3583]], \n'
            '                      "embarked":[["C"],    ["C"]]\n                    }]\n}'
        ),
        bearer=True,
    ),
    Recorded(
        "Delete ONNX ML Endpoint",
        "DELETE",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxMLModelURI}}",
        bearer=True,
    ),
    Recorded(
        "Delete ONNX ML Model", "DELETE", "{{omlserver}}/omlmod/v1/models/{{onnxMLModelID}}", bearer=True
    ),
]

#: "5.ONNX Image Classification": shared given as "True", one image file per score request.
IMAGE_COLLECTION = [
    Recorded(
        "List ONNX Image Models",
        "GET",
        "{{omlserver}}/omlmod/v1/models?namespace=ONNX_IMG_MODELS",
        bearer=True,
    ),
    Recorded(
        "Store ONNX Image Model",
        "POST",
        "{{omlserver}}/omlmod/v1/models",
        form={
            "modelName": "{{onnxIMGModelName}}",
            "version": "1.4",
            "modelType": "ONNX_IMG",
            "shared": "True",
            "namespace": "ONNX_IMG_MODELS",
        },
        files={"modelData": "image_model.zip"},
        bearer=True,
    ),
    Recorded(
        "Get ONNX Image Model Metadata",
        "GET",
        "{{omlserver}}/omlmod/v1/models/{{onnxIMGModelID}}/metadata",
        raw="",
        bearer=True,
    ),
    Recorded(
        "Create ONNX Image Endpoint",
        "POST",
        "{{omlserver}}/omlmod/v1/deployment",
        {"Content-Type": "application/json"},
        raw='{\n\t"modelId":"{{onnxIMGModelID}}",\n\t"uri":"{{onnxIMGModelURI}}"\n}',
        bearer=True,
    ),
    Recorded(
        "Get ONNX Image Model Scoring REST API",
        "GET",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxIMGModelURI}}/api",
        bearer=True,
    ),
    Recorded(
        "Score ONNX Image Model",
        "POST",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxIMGModelURI}}/score",
        files={"imageData": "image.png"},
        bearer=True,
    ),
    Recorded(
        "Delete ONNX Image Endpoint",
        "DELETE",
        "{{omlserver}}/omlmod/v1/deployment/{{onnxIMGModelURI}}",
        bearer=True,
    ),
    Recorded(
        "Delete ONNX Image Model", "DELETE", "{{omlserver}}/omlmod/v1/models/{{onnxIMGModelID}}", bearer=True
    ),
]

#: "OML Services Batch Scoring Collection": its variables are {{omlservice}}, its model list has a
#: trailing slash, its job body sends maxRuns and recompute as strings and topNDetails.
BATCH_COLLECTION = [
    Recorded(
        "OML Token Acquisition",
        "POST",
        "{{omlservice}}/omlusers/api/oauth2/v1/token",
        {"Content-Type": "application/json", "": ""},
        raw='{\n    "grant_type":"password",\n    "username": "{{username}}",\n    "password": "{{password}}"\n}',
    ),
    Recorded("List Available models", "GET", "{{omlservice}}/omlmod/v1/models/", bearer=True),
    Recorded(
        "List Submitted Jobs",
        "GET",
        "{{omlservice}}/omlmod/v1/jobs",
        {"Accept": "application/json", "Content-Type": "application/json"},
        bearer=True,
    ),
    Recorded(
        "Get Regression Model ID", "GET", "{{omlservice}}/omlmod/v1/deployment/{{regModURI}}", bearer=True
    ),
    Recorded(
        "Score OML Regression Model",
        "POST",
        "{{omlservice}}/omlmod/v1/jobs",
        {"Content-Type": "application/json"},
        raw=(
            '{\n    "jobSchedule": {\n        "repeatInterval": "FREQ=HOURLY",\n        "maxRuns": "50"\n    },\n'
            '    "jobProperties": {\n        "jobName": "REG_PRED",\n        "jobType": "MODEL_SCORING",\n'
            '        "modelId": "{{regModID}}",\n        "inputData": "CUSTOMERS360",\n'
            '        "outputData": "REG_PRED_OUT",\n        "jobDescription": "Batch Scoring Regression Job",\n'
            '        "supplementalColumnNames": ["CUST_ID","YRS_RESIDENCE"],\n        "topNDetails": 2,\n'
            '                                         \t\t"recompute": "true"     \n    }\n}'
        ),
        bearer=True,
    ),
    Recorded("View Regression Job Details", "GET", "{{omlservice}}/omlmod/v1/jobs/{{regjobID}}", bearer=True),
    Recorded(
        "Update Batch Scoring Job",
        "POST",
        "{{omlservice}}/omlmod/v1/jobs/{{regjobID}}",
        {"Content-Type": "application/json"},
        raw=(
            '{\n    "jobSchedule": {\n           "repeatInterval": "FREQ=MONTHLY",\n'
            '                           "maxRuns": "2"\n                                         }\n}'
        ),
        bearer=True,
    ),
    Recorded(
        "Perform an Action on a Batch Scoring Job",
        "POST",
        "{{omlservice}}/omlmod/v1/jobs/{{regjobID}}/action",
        {"Content-Type": "application/json"},
        raw='{\n    "action": "RUN",\n    "force": "false"\n}',
        bearer=True,
    ),
    Recorded(
        "Delete a Batch Scoring Job", "DELETE", "{{omlservice}}/omlmod/v1/jobs/{{regjobID}}", bearer=True
    ),
]


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def postman(client: TestClient) -> Postman:
    """The collections' environment ("OMLMOD SJC" in Oracle's folder), with our user and names."""
    server = "https://tenant1-omldb.adb.us-sanjose-1.oraclecloudapps.com"
    environment = {
        "omlserver": server,
        "omlservice": server,
        "tenant": "ocid1.tenancy.oc1..aaaaaaaaexampletenancy",
        "database": "OMLDB",
        "username": "alice",
        "password": PASSWORD,
        "onnxMLModelName": "titanic_pipeline",
        "onnxMLModelURI": "titanic",
        "onnxIMGModelName": "image_classifier",
        "onnxIMGModelURI": "pets",
    }
    return Postman(client, environment)


def replay(postman: Postman, collection: list[Recorded]) -> Iterator[tuple[Recorded, Result]]:
    for request in collection:
        yield request, postman.send(request)


def login(postman: Postman) -> None:
    (request,) = TOKEN_COLLECTION
    answer = postman.send(request)
    assert answer.status_code == 200, answer.text
    postman.environment["token"] = answer.json["accessToken"]  # the collection's test script


# -- tokens -----------------------------------------------------------------------------------------


def test_the_token_collection_gets_a_token_on_the_tenant_path(postman: Postman) -> None:
    (request,) = TOKEN_COLLECTION
    answer = postman.send(request)
    assert answer.status_code == 200, answer.text
    assert set(answer.json) == {"accessToken", "expiresIn", "tokenType"}
    assert answer.json["expiresIn"] == 3600 and answer.json["tokenType"] == "Bearer"
    assert answer.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    token = answer.json["accessToken"]
    assert (
        postman.client.simulate_get(
            "/omlmod/v1/models", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )

    # refresh and revoke on the same older path answer like the short ones (spec section 2)
    tenant = postman.fill("/omlusers/tenants/{{tenant}}/databases/{{database}}/api/oauth2/v1/token")
    refreshed = postman.client.simulate_post(
        tenant,
        headers={"Authorization": f"Bearer {token}"},
        json={"grant_type": "refresh_token", "refresh_token": token},
    )
    assert refreshed.status_code == 200, refreshed.text
    revoked = postman.client.simulate_post(f"{tenant}/revoke", headers={"Authorization": f"Bearer {token}"})
    assert (revoked.status_code, revoked.json) == (200, {"status": "ok"})
    after = postman.client.simulate_get("/omlmod/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401


def test_the_tenant_path_refuses_what_the_short_one_refuses(postman: Postman) -> None:
    tenant = postman.fill("/omlusers/tenants/{{tenant}}/databases/{{database}}/api/oauth2/v1/token")
    wrong = postman.client.simulate_post(
        tenant, json={"grant_type": "password", "username": "alice", "password": "not it"}
    )
    assert wrong.status_code == 401 and wrong.json["code"]
    odd = postman.client.simulate_post(
        "/omlusers/tenants/a%20b/databases/OMLDB/api/oauth2/v1/token",
        json={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )
    assert odd.status_code == 400 and "tenant" in odd.json["message"]
    anonymous_revoke = postman.client.simulate_post(f"{tenant}/revoke")
    assert anonymous_revoke.status_code == 401


# -- ONNX classical ML --------------------------------------------------------------------------------


def test_the_onnx_collection_runs_as_recorded(postman: Postman, tmp_path: Path) -> None:
    zoo = modelzoo.make_titanic_pipeline_zip(tmp_path)
    postman.files["sk_cl_pipeline_titanic_onnx.zip"] = zoo.zip_path.read_bytes()
    login(postman)
    answers: dict[str, Result] = {}
    for request, answer in replay(postman, ONNX_COLLECTION):
        assert answer.status_code < 300, (request.name, answer.status_code, answer.text)
        answers[request.name] = answer
        if request.name == "Store ONNX ML Model":
            postman.environment["onnxMLModelID"] = answer.json["modelId"]  # the collection's script

    stored = answers["Store ONNX ML Model"]
    assert stored.status_code == 201 and stored.headers["Location"].endswith(
        postman.environment["onnxMLModelID"]
    )
    details = answers["Get ONNX Model details"].json
    for name in (
        "version",
        "modelType",
        "createdBy",
        "modelId",
        "modelName",
        "namespace",
        "shared",
        "storedOn",
    ):
        assert name in details, name  # the columns the collection's visualiser shows
    assert (details["namespace"], details["version"], details["shared"]) == (
        "NEW_ONNX_ML_PROJECT",
        "1.1",
        True,
    )
    assert details["links"][0]["rel"] == "self"
    metadata = answers["Get ONNX Model Metadata"].json
    names = ["pclass", "sex", "age", "fare", "embarked"]
    assert [a["name"] for a in metadata["attributes"]] == names
    assert metadata["onnxAttributes"] == metadata["attributes"]
    assert answers["Get ONNX Model Content (RAW BLOB)"].content == zoo.zip_path.read_bytes()
    assert answers["Create ONNX Scoring Endpoint"].status_code == 201
    assert (
        answers["Get ONNX Model deployment details"].json["metadata"]["onnxAttributes"][0]["name"] == "pclass"
    )
    assert answers["Get ONNX Model Scoring REST API"].json["openapi"].startswith("3.")
    assert answers["List ONNX Model deployments"].json["items"] == []  # the model moved namespace

    session = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = {
        "pclass": np.array([["3"], ["3"]]),
        "sex": np.array([["male"], ["female"]]),
        "age": np.array([[np.nan], [5.0]], dtype=np.float32),
        "fare": np.array([[22.3583], [22.3583]], dtype=np.float32),
        "embarked": np.array([["C"], ["C"]]),
    }
    _, probabilities = session.run(None, feeds)
    results = answers["Score ONNX ML Model (Multiple Classifications)"].json["scoringResults"]
    assert len(results) == 2
    for result, expected in zip(results, probabilities, strict=True):
        got = {c["label"]: c["probability"] for c in result["classifications"]}
        assert got == pytest.approx({label: float(p) for label, p in expected.items()}, rel=1e-6)
    single = answers["Score ONNX ML Model (Single Classification)"].json["scoringResults"]
    assert single[0] == results[0]
    assert answers["Delete ONNX ML Model"].status_code == 204


# -- ONNX image classification ------------------------------------------------------------------------


def test_the_image_collection_runs_as_recorded(postman: Postman, tmp_path: Path) -> None:
    zoo = modelzoo.make_image_classifier_zip(tmp_path)
    assert zoo.image_png is not None
    postman.files.update({"image_model.zip": zoo.zip_path.read_bytes(), "image.png": zoo.image_png})
    login(postman)
    answers: dict[str, Result] = {}
    for request, answer in replay(postman, IMAGE_COLLECTION):
        assert answer.status_code < 300, (request.name, answer.status_code, answer.text)
        answers[request.name] = answer
        if request.name == "Store ONNX Image Model":
            postman.environment["onnxIMGModelID"] = answer.json["modelId"]
    metadata = answers["Get ONNX Image Model Metadata"].json
    assert (
        metadata["onnxAttributes"] == metadata["attributes"] and metadata["attributes"][0]["name"] == "image"
    )
    (result,) = answers["Score ONNX Image Model"].json["scoringResults"]
    labels = [c["label"] for c in result["classifications"]]
    assert sorted(labels) == sorted(modelzoo.IMAGE_CLASSES)
    assert sum(c["probability"] for c in result["classifications"]) == pytest.approx(1.0, abs=1e-5)


# -- batch scoring --------------------------------------------------------------------------------------


@pytest.fixture
def customers360(database: tuple[str, Engine], db_roles: dict[str, str | None]) -> Iterator[str]:
    """Our CUSTOMERS360: the collection's key and supplemental columns, and three numeric features
    for our regressor (rule 3 of ``omlsvc.jobs.fitting``: the columns left over, in table order)."""
    tables = InputTables(database[1], readers={"alice": db_roles.get("alice")})
    name = tables.name("customers360")
    table = Table(
        name,
        MetaData(),
        Column("CUST_ID", Integer, primary_key=True, autoincrement=False),
        Column("YRS_RESIDENCE", Integer),
        *(Column(f"F{i}", Float) for i in range(3)),
    )
    tables._create(table)
    x = modelzoo._iris()[0][:20, :3].astype(np.float64)
    tables.load(table, [np.arange(100, 120), np.arange(20) % 7, *x.T])
    yield name
    tables.drop_all()


def test_the_batch_scoring_collection_runs_as_recorded(
    client: TestClient,
    services: Services,
    database: tuple[str, Engine],
    customers360: str,
    tmp_path: Path,
) -> None:
    server = "https://tenant1-omldb.adb.us-sanjose-1.oraclecloudapps.com"
    postman = Postman(
        client, {"omlservice": server, "omlserver": server, "username": "alice", "password": PASSWORD}
    )
    # the collection expects a deployed regression model; we deploy ours
    token = client.simulate_post(
        "/omlusers/api/oauth2/v1/token",
        json={"grant_type": "password", "username": "alice", "password": PASSWORD},
    ).json["accessToken"]
    bearer = {"Authorization": f"Bearer {token}"}
    zoo = modelzoo.make_regressor_zip(tmp_path)
    body, content_type = multipart(
        {"modelName": "reg_model", "modelType": "ONNX", "version": "1.0"},
        {"modelData": ("r.zip", zoo.zip_path.read_bytes())},
    )
    model_id = client.simulate_post(
        "/omlmod/v1/models", body=body, headers={**bearer, "Content-Type": content_type}
    ).json["modelId"]
    assert (
        client.simulate_post(
            "/omlmod/v1/deployment", json={"modelId": model_id, "uri": "reg_model"}, headers=bearer
        ).status_code
        == 201
    )
    postman.environment["regModURI"] = "reg_model"

    collection = [
        Recorded(
            r.name,
            r.method,
            r.url,
            r.headers,
            r.raw and r.raw.replace('"CUSTOMERS360"', f'"{customers360}"'),
            r.form,
            r.files,
            r.bearer,
        )
        for r in BATCH_COLLECTION
    ]
    answers: dict[str, Result] = {}
    for request in collection:
        answer = postman.send(request)
        assert answer.status_code < 300, (request.name, answer.status_code, answer.text)
        answers[request.name] = answer
        if request.name == "OML Token Acquisition":
            postman.environment["token"] = answer.json["accessToken"]
        elif request.name == "Get Regression Model ID":
            postman.environment["regModID"] = answer.json["modelId"]
        elif request.name == "Score OML Regression Model":
            postman.environment["regjobID"] = answer.json["jobId"]
        elif request.name == "Perform an Action on a Batch Scoring Job":
            build_runner(services, RunnerOptions(chunk_rows=40, lease_s=5)).run_until_idle()
            job = client.simulate_get(
                f"/omlmod/v1/jobs/{postman.environment['regjobID'].replace('$', '%24')}", headers=bearer
            ).json
            assert job["lastRunStatus"] == "SUCCEEDED", job
            assert count_rows(database[1], f"{postman.environment['regjobID']}_REG_PRED_OUT") == 20

    models = answers["List Available models"].json
    assert [m["modelName"] for m in models["items"]] == ["reg_model"]  # the trailing slash is the collection
    assert answers["Score OML Regression Model"].status_code == 201
    job = answers["View Regression Job Details"].json
    assert job["jobRequest"]["jobSchedule"]["maxRuns"] == 50
    assert answers["Delete a Batch Scoring Job"].status_code == 204
