"""The model repository (spec section 4): store zipped ONNX models as BLOBs, list, read, change, delete."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from omlsvc.db.schema import model_chunks, models
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import multipart, store_model, upload_model

MODELS = "/omlmod/v1/models"


def count_rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(models)).scalar_one(),
            connection.execute(select(func.count()).select_from(model_chunks)).scalar_one(),
        )


ZOO = {
    "regressor": (modelzoo.make_regressor_zip, "ONNX", "REGRESSION"),
    "zipmap_classifier": (modelzoo.make_zipmap_classifier_zip, "ONNX", "CLASSIFICATION"),
    "plain_classifier": (modelzoo.make_plain_classifier_zip, "ONNX", "CLASSIFICATION"),
    "multi_input_pipeline": (modelzoo.make_multi_input_pipeline_zip, "ONNX", "CLASSIFICATION"),
    "kmeans": (modelzoo.make_kmeans_zip, "ONNX", "CLUSTERING"),
    "gmm": (modelzoo.make_gmm_zip, "ONNX", "CLUSTERING"),
    "image_nchw": (
        lambda d: modelzoo.make_image_classifier_zip(d, layout="NCHW"),
        "ONNX_IMG",
        "CLASSIFICATION",
    ),
    "image_nhwc_bgr": (
        lambda d: modelzoo.make_image_classifier_zip(d, layout="NHWC", channel_order="BGR"),
        "ONNX_IMG",
        "CLASSIFICATION",
    ),
    "feature_extractor": (modelzoo.make_feature_extractor_zip, "ONNX_IMG", "FEATURE_EXTRACTION"),
    "external_data": (modelzoo.make_external_data_zip, "ONNX", "REGRESSION"),
}


@pytest.mark.parametrize("kind", sorted(ZOO))
def test_every_kind_of_model_is_stored_and_comes_back_byte_identical(
    alice: Caller, tmp_path: Path, kind: str
) -> None:
    make, model_type, function = ZOO[kind]
    zoo = make(tmp_path)
    result = upload_model(alice, zoo.zip_path, name=kind, model_type=model_type)
    assert result.status_code == 201, result.text
    model_id = result.json["modelId"]
    assert result.headers["Location"] == f"{MODELS}/{model_id}"
    assert result.json["links"] == [{"rel": "self", "href": f"http://falconframework.org{MODELS}/{model_id}"}]

    content = alice.get(f"{MODELS}/{model_id}/content")
    assert content.status_code == 200
    assert content.content == zoo.zip_path.read_bytes()
    assert content.headers["ETag"] == f'"{hashlib.sha256(content.content).hexdigest()}"'
    assert content.headers["content-type"] == "application/octet-stream"

    metadata = alice.get(f"{MODELS}/{model_id}/metadata").json
    assert metadata["miningFunction"] == function
    assert metadata["algorithm"] == "ONNX"
    assert [a["name"] for a in metadata["attributes"]] == list(zoo.input_names)
    assert [o["name"] for o in metadata["outputs"]] == list(zoo.output_names)


def test_oracles_documented_curl_with_a_mismatched_boundary_header_is_understood(
    alice: Caller, tmp_path: Path
) -> None:
    """curl -H 'content-type: multipart/form-data; boundary=Boundary' -F ... sends two boundaries."""
    zoo = modelzoo.make_regressor_zip(tmp_path)
    body, real = multipart(
        {
            "modelName": "house_rg",
            "modelType": "ONNX",
            "version": "1.0",
            "shared": "true",
            "namespace": "DEMO",
        },
        {"modelData": ("house.zip", zoo.zip_path.read_bytes())},
    )
    doubled = "multipart/form-data; boundary=Boundary; " + real.split("; ", 1)[1]
    result = alice.post(MODELS, body=body, headers={"Content-Type": doubled})
    assert result.status_code == 201, result.text
    stored = alice.get(f"{MODELS}/{result.json['modelId']}").json
    assert stored["modelName"] == "house_rg"
    assert stored["namespace"] == "DEMO"
    assert stored["shared"] is True
    assert stored["createdBy"] == "alice"
    assert stored["storedOn"].endswith("Z") and len(stored["storedOn"]) == 24


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, False),
        ("false", False),
        ("FALSE", False),
        ("true", True),
        ("True", True),
        ("yes", True),
        ("1", True),
    ],
)
def test_shared_follows_omls_text_rule(
    alice: Caller, tmp_path: Path, given: str | None, expected: bool
) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, shared=given)
    assert alice.get(f"{MODELS}/{model_id}").json["shared"] is expected


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": "bad name"}, "modelName"),
        ({"name": "x" * 51}, "modelName"),
        ({"version": "1.0.0"}, "version"),
        ({"version": "100"}, "version"),
        ({"model_type": "PMML"}, "modelType"),
        ({"namespace": "no-dashes"}, "namespace"),
        ({"description": "d" * 4001}, "description"),
    ],
)
def test_form_rules_are_checked_before_anything_is_stored(
    alice: Caller, tmp_path: Path, database: tuple[str, Engine], fields: dict, problem: str
) -> None:
    result = upload_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, **fields)
    assert result.status_code == 400
    assert result.json["code"] == "INVALID_INPUT"
    assert problem in result.json["message"]
    assert count_rows(database[1]) == (0, 0)


def test_model_names_may_hold_hash_and_dollar(alice: Caller, tmp_path: Path) -> None:
    model_id = store_model(
        alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="HOUSE#RG$1", version="10.25"
    )
    assert alice.get(f"{MODELS}/{model_id}").json["modelName"] == "HOUSE#RG$1"


def test_the_same_name_and_version_twice_is_a_conflict(alice: Caller, bob: Caller, tmp_path: Path) -> None:
    zip_path = modelzoo.make_regressor_zip(tmp_path).zip_path
    store_model(alice, zip_path, name="house", version="1.0")
    again = upload_model(alice, zip_path, name="house", version="1.0")
    assert again.status_code == 409
    assert again.json["code"] == "CONFLICT"
    assert "already exists" in again.json["message"]
    store_model(alice, zip_path, name="house", version="1.1")
    store_model(bob, zip_path, name="house", version="1.0")  # the key is (owner, name, version)


def test_an_upload_without_model_data_or_not_multipart_is_refused(alice: Caller) -> None:
    body, content_type = multipart({"modelName": "m", "modelType": "ONNX", "version": "1"}, {})
    missing = alice.post(MODELS, body=body, headers={"Content-Type": content_type})
    assert missing.status_code == 400
    assert "modelData" in missing.json["message"]
    wrong_type = alice.post(MODELS, body="m", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.json["code"] == "UNSUPPORTED_MEDIA_TYPE"
    no_source = alice.post(MODELS, json={"modelName": "m"})  # JSON is an import from a URL (issue 15)
    assert no_source.status_code == 400
    assert "sourceUrl" in no_source.json["message"]


def test_a_truncated_multipart_body_is_a_bad_request_and_leaves_nothing(
    alice: Caller, tmp_path: Path, database: tuple[str, Engine], settings
) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    body, content_type = multipart(
        {"modelName": "m", "modelType": "ONNX", "version": "1"},
        {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
    )
    result = alice.post(MODELS, body=body[: len(body) // 2], headers={"Content-Type": content_type})
    assert result.status_code == 400
    assert count_rows(database[1]) == (0, 0)
    assert list((settings.data_dir / "tmp").iterdir()) == []


def test_listing_shows_own_and_shared_models_with_filters(alice: Caller, bob: Caller, tmp_path: Path) -> None:
    zip_path = modelzoo.make_regressor_zip(tmp_path).zip_path
    mine = store_model(alice, zip_path, name="house", version="1.0", namespace="DEMO")
    store_model(alice, zip_path, name="house", version="2.0", namespace="demo")
    bobs_private = store_model(bob, zip_path, name="secret", version="1.0")
    bobs_shared = store_model(bob, zip_path, name="public", version="1.0", shared="true")

    ids = [item["modelId"] for item in alice.get(MODELS).json["items"]]
    assert bobs_private not in ids
    assert set(ids) >= {mine, bobs_shared}
    assert [i["modelId"] for i in alice.get(MODELS, params={"namespace": "DEMO"}).json["items"]] == [mine]
    filtered = alice.get(MODELS, params={"modelName": "house", "version": "1.0"}).json["items"]
    assert [i["modelId"] for i in filtered] == [mine]
    assert alice.get(MODELS, params={"modelName": "nothing"}).json["items"] == []


def test_listing_pages_with_next_and_prev_links(alice: Caller, tmp_path: Path) -> None:
    zip_path = modelzoo.make_regressor_zip(tmp_path).zip_path
    stored = [store_model(alice, zip_path, name=f"m{i}") for i in range(5)]
    first = alice.get(MODELS, params={"limit": "2"}).json
    assert [i["modelId"] for i in first["items"]] == stored[:2]
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert "offset=2" in rels["next"] and "prev" not in rels
    last = alice.get(MODELS, params={"limit": "2", "offset": "4"}).json
    assert [i["modelId"] for i in last["items"]] == stored[4:]
    assert {link["rel"] for link in last["links"]} == {"self", "prev"}
    assert alice.get(MODELS, params={"limit": "0"}).status_code == 400


def test_another_users_private_model_does_not_exist_for_them(
    alice: Caller, bob: Caller, tmp_path: Path
) -> None:
    model_id = store_model(bob, modelzoo.make_regressor_zip(tmp_path).zip_path)
    for path in ("", "/metadata", "/content"):
        result = alice.get(f"{MODELS}/{model_id}{path}")
        assert result.status_code == 404
        assert result.json["code"] == "NOT_FOUND"
    assert alice.post(f"{MODELS}/{model_id}", json={"namespace": "X"}).status_code == 404
    assert alice.delete(f"{MODELS}/{model_id}").status_code == 404
    unknown = alice.get(f"{MODELS}/00000000-0000-0000-0000-000000000000").json
    hidden = alice.get(f"{MODELS}/{model_id}").json
    assert hidden["message"].replace(model_id, "ID") == unknown["message"].replace(
        "00000000-0000-0000-0000-000000000000", "ID"
    )


def test_a_shared_model_can_be_read_but_not_changed_by_others(
    alice: Caller, bob: Caller, tmp_path: Path
) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    model_id = store_model(bob, zoo.zip_path, shared="true")
    assert alice.get(f"{MODELS}/{model_id}/content").content == zoo.zip_path.read_bytes()
    changed = alice.post(f"{MODELS}/{model_id}", json={"namespace": "MINE"})
    assert changed.status_code == 403
    assert changed.json["code"] == "FORBIDDEN"
    assert alice.delete(f"{MODELS}/{model_id}").status_code == 403


def test_the_owner_changes_namespace_and_description(alice: Caller, tmp_path: Path) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, namespace="OLD")
    assert (
        alice.post(f"{MODELS}/{model_id}", json={"namespace": "NEW", "description": "v2"}).status_code == 204
    )
    model = alice.get(f"{MODELS}/{model_id}").json
    assert (model["namespace"], model["description"]) == ("NEW", "v2")
    assert alice.post(f"{MODELS}/{model_id}", json={"namespace": "bad-name"}).status_code == 400
    assert alice.post(f"{MODELS}/{model_id}", json={}).status_code == 400


def test_admin_may_manage_everyones_models(alice: Caller, admin: Caller, tmp_path: Path) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path)
    assert admin.get(f"{MODELS}/{model_id}").status_code == 200
    assert admin.post(f"{MODELS}/{model_id}", json={"namespace": "ADMIN"}).status_code == 204
    assert admin.delete(f"{MODELS}/{model_id}").status_code == 204


def test_delete_removes_the_row_and_every_chunk(
    alice: Caller, tmp_path: Path, database: tuple[str, Engine]
) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path)
    assert count_rows(database[1])[0] == 1
    assert alice.delete(f"{MODELS}/{model_id}").status_code == 204
    assert alice.get(f"{MODELS}/{model_id}").status_code == 404
    assert count_rows(database[1]) == (0, 0)


def test_content_honours_if_none_match(alice: Caller, tmp_path: Path) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path)
    etag = alice.get(f"{MODELS}/{model_id}/content").headers["ETag"]
    assert alice.get(f"{MODELS}/{model_id}/content", headers={"If-None-Match": etag}).status_code == 304


def test_large_models_are_stored_in_many_chunks_and_reassembled(
    tmp_path: Path, settings, database: tuple[str, Engine]
) -> None:
    import dataclasses

    import falcon.testing

    from omlsvc.rest.app import create_app
    from omlsvc.wiring import build_services
    from tests.api.conftest import PASSWORD, login

    small_chunks = dataclasses.replace(settings, chunk_bytes=1000)
    services = build_services(small_chunks, engine=database[1])
    services.auth.add_user("carol", PASSWORD)
    carol = login(falcon.testing.TestClient(create_app(small_chunks, services=services)), "carol")
    zoo = modelzoo.make_external_data_zip(tmp_path)
    size = zoo.zip_path.stat().st_size
    model_id = store_model(carol, zoo.zip_path)
    assert count_rows(database[1]) == (1, -(-size // 1000))
    assert carol.get(f"{MODELS}/{model_id}/content").content == zoo.zip_path.read_bytes()
