"""One test per defect the robustness suite found, each pinned down deterministically.

The fuzzing, load and fault tests found these by chance or under load; here each is reproduced
directly, so that it cannot come back unnoticed even when a derandomised fuzz run would miss it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pytest

from omlsvc.core.authorization import Principal
from omlsvc.core.limits import MAX_OFFSET, MAX_PAGE_SIZE
from omlsvc.core.signature import ScoringSpec
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.scoring.session_options import make_session_options
from omlsvc.scoring.sessions import SessionCache
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import store_model
from tests.openapi_check import assert_valid, response_validator, schema_validator
from tests.robustness.conftest import DEPLOYMENTS, MODELS, assert_oml_error
from tests.service.fakes import FakeModelSource, scoring_service

TOKEN = "/omlusers/api/oauth2/v1/token"


# --- paging: an offset beyond the databases' integers was a 500 -------------------------------------


@pytest.mark.parametrize("path", [MODELS, DEPLOYMENTS])
@pytest.mark.parametrize("offset", [str(MAX_OFFSET + 1), "3859259244734931009536", str(2**63)])
def test_an_offset_beyond_the_documented_maximum_is_a_400_not_a_500(
    alice: Caller, path: str, offset: str
) -> None:
    result = alice.get(path, params={"offset": offset})
    assert assert_oml_error(result, 400)["code"] == "INVALID_INPUT"
    assert "offset" in result.json["message"]


@pytest.mark.parametrize("path", [MODELS, DEPLOYMENTS])
def test_paging_accepts_exactly_what_the_service_document_allows(alice: Caller, path: str) -> None:
    document = alice.get("/omlmod/v1/api").json
    parameters = {p["name"]: p["schema"] for p in document["paths"][path]["get"]["parameters"]}
    assert parameters["limit"]["maximum"] == MAX_PAGE_SIZE
    assert parameters["offset"]["maximum"] == MAX_OFFSET
    assert alice.get(path, params={"offset": str(MAX_OFFSET), "limit": str(MAX_PAGE_SIZE)}).status_code == 200
    assert alice.get(path, params={"limit": str(MAX_PAGE_SIZE + 1)}).status_code == 400


# --- the token request schema said more (and less) than the service does -----------------------------


def test_the_token_schemas_match_what_the_token_endpoint_accepts(
    client: falcon.testing.TestClient, alice: Caller
) -> None:
    document = alice.get("/omlmod/v1/api").json
    request = schema_validator(document, {"$ref": "#/components/schemas/TokenRequest"})
    refresh_without_body_token = {"grant_type": "refresh_token"}
    assert_valid(request, refresh_without_body_token)
    result = client.simulate_post(TOKEN, headers=alice.headers, json=refresh_without_body_token)
    assert result.status_code == 200
    empty_name = {"grant_type": "password", "username": "", "password": "x"}
    assert not request.is_valid(empty_name)
    assert client.simulate_post(TOKEN, json=empty_name).status_code == 400


# --- a NaN result was sent as null, which the deployment's own document did not allow ----------------


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("kind", "uri", "record"),
    [
        ("regressor", "house", {"float_input": [["NaN", 1.0, 2.0]]}),
        ("zipmap_classifier", "iris", {"float_input": [["inf", 1.0, 2.0, "-inf"]]}),
        ("kmeans", "segments", {"float_input": [["NaN", 1.0, 2.0, 3.0]]}),
    ],
)
def test_non_finite_results_are_null_and_documented_as_such(
    alice: Caller, tmp_path: Path, kind: str, uri: str, record: dict[str, object]
) -> None:
    zoo = getattr(modelzoo, f"make_{kind}_zip")(tmp_path)
    model_id = store_model(alice, zoo.zip_path, name=uri)
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri}).status_code == 201
    document = alice.get(f"{DEPLOYMENTS}/{uri}/api").json
    result = alice.post(f"{DEPLOYMENTS}/{uri}/score", json={"inputRecords": [record]})
    assert result.status_code == 200, result.text
    assert "null" in result.text
    assert_valid(response_validator(document), result.json)


# --- the disk cache removed while a model was being fetched or loaded was a 500 (or a 400) ------------


class _SourceThatLosesTheCache(FakeModelSource):
    """The stored bytes, read in chunks; the disk cache is removed after the first one."""

    def __init__(self, cache: Path) -> None:
        super().__init__()
        self._cache = cache

    def model_bytes(self, model_id: str) -> Iterator[bytes]:
        for index, chunk in enumerate(super().model_bytes(model_id)):
            yield chunk
            if index == 0 and len(self.fetches) == 1:
                shutil.rmtree(self._cache)


def test_a_cache_removed_in_the_middle_of_a_fetch_does_not_fail_the_score(tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    data_dir = tmp_path / "data"
    (data_dir / "cache").mkdir(parents=True)
    source = _SourceThatLosesTheCache(data_dir / "cache")
    source.add("house", "model-1", zoo)
    scoring = scoring_service(source, data_dir)

    results = scoring.score_records(
        Principal("alice", ("developer",)), "house", {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]]}]}
    )

    assert len(results) == 1 and "regression" in results[0]
    # the fetch went to the load's own pin, outside the cache: one fetch, then published for the others
    assert source.fetches == ["model-1"]
    assert [path.parent.name for path in (data_dir / "cache" / "models").glob("*/manifest")] == [
        source.deployment(Principal("alice", ("developer",)), "house").model.sha256
    ]


def test_a_model_file_gone_before_its_session_is_built_is_reported_as_missing(tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    spec = _regressor_spec(zoo.zip_path)
    sessions = SessionCache(
        1, lambda sha256: tmp_path / "gone" / "model.onnx", make_session_options, ["CPUExecutionProvider"]
    )
    with pytest.raises(FileNotFoundError):
        sessions.get("f" * 64, spec)


def _regressor_spec(zip_path: Path) -> ScoringSpec:
    from omlsvc.core.signature import ModelType
    from omlsvc.repository.validation import validate_package

    return validate_package(zip_path, ModelType.ONNX, ArchiveLimits(), zip_path.parent / "work").spec
