"""Deployments (spec sections 5.1-5.5): a URI per model, visible like its model, with its own OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model

DEPLOYMENTS = "/omlmod/v1/deployment"
HOST = "http://falconframework.org"


def deploy(caller: Caller, model_id: str, uri: str):
    return caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri})


@pytest.fixture
def regressor_id(alice: Caller, tmp_path: Path) -> str:
    return store_model(
        alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house_rg", namespace="DEMO"
    )


def test_the_owner_deploys_a_model_under_a_uri(alice: Caller, regressor_id: str) -> None:
    result = deploy(alice, regressor_id, "house_rg")
    assert result.status_code == 201, result.text
    assert result.headers["Location"] == f"{DEPLOYMENTS}/house_rg"
    body = result.json
    assert (body["modelId"], body["uri"]) == (regressor_id, "house_rg")
    assert body["deployedOn"].endswith("Z")
    assert body["links"] == [{"rel": "self", "href": f"{HOST}{DEPLOYMENTS}/house_rg"}]


def test_details_carry_the_model_and_its_metadata(alice: Caller, regressor_id: str) -> None:
    deploy(alice, regressor_id, "house_rg")
    details = alice.get(f"{DEPLOYMENTS}/house_rg").json
    assert details["modelName"] == "house_rg"
    assert details["namespace"] == "DEMO"
    assert details["createdBy"] == "alice"
    assert details["metadata"]["miningFunction"] == "REGRESSION"
    assert details["metadata"]["attributes"][0]["name"] == "float_input"


def test_listing_filters_by_model_fields(alice: Caller, regressor_id: str, tmp_path: Path) -> None:
    other = store_model(alice, modelzoo.make_kmeans_zip(tmp_path).zip_path, name="segments")
    deploy(alice, regressor_id, "house_rg")
    deploy(alice, other, "segments")
    assert [d["uri"] for d in alice.get(DEPLOYMENTS).json["items"]] == ["house_rg", "segments"]
    assert [d["uri"] for d in alice.get(DEPLOYMENTS, params={"modelName": "segments"}).json["items"]] == [
        "segments"
    ]
    assert [d["uri"] for d in alice.get(DEPLOYMENTS, params={"namespace": "DEMO"}).json["items"]] == [
        "house_rg"
    ]


@pytest.mark.parametrize("uri", ["", "has space", "dash-ed", "x" * 201, 7, None])
def test_a_uri_must_be_1_to_200_word_characters(alice: Caller, regressor_id: str, uri: object) -> None:
    result = alice.post(DEPLOYMENTS, json={"modelId": regressor_id, "uri": uri})
    assert result.status_code == 400
    assert "uri" in result.json["message"]


def test_a_uri_is_unique_and_a_model_has_one_deployment(
    alice: Caller, regressor_id: str, tmp_path: Path
) -> None:
    other = store_model(alice, modelzoo.make_kmeans_zip(tmp_path).zip_path, name="segments")
    assert deploy(alice, regressor_id, "house_rg").status_code == 201
    taken = deploy(alice, other, "house_rg")
    assert taken.status_code == 409
    assert "already in use" in taken.json["message"]
    twice = deploy(alice, regressor_id, "house_rg_2")
    assert twice.status_code == 409
    assert "already deployed" in twice.json["message"]


def test_only_the_owner_deploys_and_undeploys(
    alice: Caller, bob: Caller, admin: Caller, tmp_path: Path
) -> None:
    shared = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, shared="true")
    refused = deploy(bob, shared, "bobs_uri")
    assert refused.status_code == 403
    assert refused.json["code"] == "FORBIDDEN"
    assert deploy(alice, shared, "alices_uri").status_code == 201
    assert bob.get(f"{DEPLOYMENTS}/alices_uri").status_code == 200  # shared: visible
    assert bob.delete(f"{DEPLOYMENTS}/alices_uri").status_code == 403
    assert admin.delete(f"{DEPLOYMENTS}/alices_uri").status_code == 204
    assert alice.get(f"{DEPLOYMENTS}/alices_uri").status_code == 404


def test_private_models_and_their_deployments_are_invisible_to_others(
    alice: Caller, bob: Caller, regressor_id: str
) -> None:
    assert deploy(bob, regressor_id, "stolen").status_code == 404
    deploy(alice, regressor_id, "house_rg")
    for path in ("", "/api"):
        assert bob.get(f"{DEPLOYMENTS}/house_rg{path}").status_code == 404
    assert bob.delete(f"{DEPLOYMENTS}/house_rg").status_code == 404
    assert bob.get(DEPLOYMENTS).json["items"] == []


def test_a_deployed_model_cannot_be_deleted(alice: Caller, regressor_id: str) -> None:
    deploy(alice, regressor_id, "house_rg")
    refused = alice.delete(f"/omlmod/v1/models/{regressor_id}")
    assert refused.status_code == 409
    assert "undeploy" in refused.json["message"]
    assert alice.delete(f"{DEPLOYMENTS}/house_rg").status_code == 204
    assert alice.delete(f"/omlmod/v1/models/{regressor_id}").status_code == 204


def test_deploying_an_unknown_model_is_not_found(alice: Caller) -> None:
    assert deploy(alice, "00000000-0000-0000-0000-000000000000", "nothing").status_code == 404
    assert alice.delete(f"{DEPLOYMENTS}/nothing").status_code == 404


ZOO_KINDS = {
    "regressor": (modelzoo.make_regressor_zip, "ONNX"),
    "zipmap_classifier": (modelzoo.make_zipmap_classifier_zip, "ONNX"),
    "plain_classifier": (modelzoo.make_plain_classifier_zip, "ONNX"),
    "multi_input_pipeline": (modelzoo.make_multi_input_pipeline_zip, "ONNX"),
    "kmeans": (modelzoo.make_kmeans_zip, "ONNX"),
    "gmm": (modelzoo.make_gmm_zip, "ONNX"),
    "image_nchw": (lambda d: modelzoo.make_image_classifier_zip(d, layout="NCHW"), "ONNX_IMG"),
    "image_nhwc": (
        lambda d: modelzoo.make_image_classifier_zip(d, layout="NHWC", channel_order="BGR"),
        "ONNX_IMG",
    ),
    "feature_extractor": (modelzoo.make_feature_extractor_zip, "ONNX_IMG"),
}


@pytest.mark.parametrize("kind", sorted(ZOO_KINDS))
def test_each_deployment_documents_its_score_call_in_valid_openapi(
    alice: Caller, tmp_path: Path, kind: str
) -> None:
    make, model_type = ZOO_KINDS[kind]
    model_id = store_model(alice, make(tmp_path).zip_path, name=f"{kind}#1", model_type=model_type)
    deploy(alice, model_id, kind)
    result = alice.get(f"{DEPLOYMENTS}/{kind}/api", headers={"Host": "oml.example.com:8443"})
    assert result.status_code == 200
    document = result.json
    validate(document)
    assert document["servers"] == [{"url": "http://oml.example.com:8443"}]
    assert list(document["paths"]) == [f"/omlmod/v1/deployment/{kind}/score"]
    assert f"{kind}_1_INPUT_TYPE" in document["components"]["schemas"]
