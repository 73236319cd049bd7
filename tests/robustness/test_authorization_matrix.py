"""Who may do what: every model, grant and deployment endpoint x (owner, other developer, admin,
anonymous) x (private, shared, granted-to-the-other model), as one table of expected statuses.

The rules (spec section 6, ARCHITECTURE "Ownership", README "Security model"): the owner and an admin
may do everything; another developer sees and scores shared models and those granted to them by name
(VIEW), is told 404 for a private one (it does not exist for them) and 403 when changing, deploying or
granting one they may only see; without a token everything is 401. Each cell runs on its own
model when the call would change it, so no cell depends on another. The test collects every cell and
fails with the whole table of mismatches, so one run shows every broken rule.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
import pytest

from omlsvc.wiring import Services
from tests import modelzoo
from tests.api.conftest import PASSWORD, Caller, login
from tests.api.forms import store_model
from tests.robustness.conftest import DEPLOYMENTS, MODELS, assert_error_body

ACTORS = ("owner", "other", "third", "admin", "anonymous")  # other: bob; third: carol, granted nothing
VISIBILITY = ("private", "shared", "granted")  # granted: private, with VIEW granted to the other
SECRET_NAME = "secret_model_"
SCORE_BODY = {"inputRecords": [{"float_input": [[5.1, 3.5, 1.4, 0.2]]}]}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: Callable[[str, str], str]  # (model id, uri) -> path
    body: dict[str, object] | None = None
    deployed: bool = True  # the model is deployed at the cell's uri before the call
    fresh: bool = False  # the call changes the model: the cell gets a model of its own
    listed_in: str | None = None  # a list call: the cell's answer is whether the model is listed
    granted_to: str | None = None  # the model is also granted to this user before the call


def _with_third(table: dict[tuple[str, str], int | str]) -> dict[tuple[str, str], int | str]:
    """The third developer holds no grant: a model granted to the other is private to them."""
    third = {("third", v): table[("other", "private" if v == "granted" else v)] for v in VISIBILITY}
    return {**table, **third}


def _reads(ok: int | str = 200, hidden: int | str = 404) -> dict[tuple[str, str], int | str]:
    return _with_third(
        {
            ("owner", "private"): ok,
            ("owner", "shared"): ok,
            ("owner", "granted"): ok,
            ("other", "private"): hidden,
            ("other", "shared"): ok,
            ("other", "granted"): ok,
            ("admin", "private"): ok,
            ("admin", "shared"): ok,
            ("admin", "granted"): ok,
            ("anonymous", "private"): 401,
            ("anonymous", "shared"): 401,
            ("anonymous", "granted"): 401,
        }
    )


def _changes(ok: int) -> dict[tuple[str, str], int | str]:
    """Those who may only see the model are refused (403): a shared model, or one granted to them."""
    return {**_reads(ok), ("other", "shared"): 403, ("other", "granted"): 403, ("third", "shared"): 403}


ENDPOINTS: dict[str, Endpoint] = {
    "get model": Endpoint("GET", lambda m, u: f"{MODELS}/{m}"),
    "get metadata": Endpoint("GET", lambda m, u: f"{MODELS}/{m}/metadata"),
    "get content": Endpoint("GET", lambda m, u: f"{MODELS}/{m}/content"),
    "update namespace": Endpoint("POST", lambda m, u: f"{MODELS}/{m}", {"namespace": "NEW"}, fresh=True),
    "delete idle model": Endpoint("DELETE", lambda m, u: f"{MODELS}/{m}", deployed=False, fresh=True),
    "delete deployed model": Endpoint("DELETE", lambda m, u: f"{MODELS}/{m}", fresh=True),
    "deploy": Endpoint(
        "POST", lambda m, u: DEPLOYMENTS, {"modelId": "{model}", "uri": "{uri}"}, deployed=False, fresh=True
    ),
    "get deployment": Endpoint("GET", lambda m, u: f"{DEPLOYMENTS}/{u}"),
    "get deployment api": Endpoint("GET", lambda m, u: f"{DEPLOYMENTS}/{u}/api"),
    "list tensors": Endpoint("GET", lambda m, u: f"{DEPLOYMENTS}/{u}/tensors"),
    "score": Endpoint("POST", lambda m, u: f"{DEPLOYMENTS}/{u}/score", SCORE_BODY),
    "undeploy": Endpoint("DELETE", lambda m, u: f"{DEPLOYMENTS}/{u}", fresh=True),
    "list grants": Endpoint("GET", lambda m, u: f"{MODELS}/{m}/grants"),
    "grant view": Endpoint(
        "POST", lambda m, u: f"{MODELS}/{m}/grants", {"user": "admin", "permission": "VIEW"}, fresh=True
    ),
    "revoke grant": Endpoint(
        "DELETE", lambda m, u: f"{MODELS}/{m}/grants/admin", fresh=True, granted_to="admin"
    ),
    "list models": Endpoint("GET", lambda m, u: MODELS, listed_in="modelId"),
    "list deployments": Endpoint("GET", lambda m, u: DEPLOYMENTS, listed_in="uri"),
    # tasks (issue 15): queued only, never run here
    "derive variant": Endpoint(
        "POST", lambda m, u: f"{MODELS}/{m}/variants", {"kind": "fp16", "version": "9"}
    ),
    "profile": Endpoint("POST", lambda m, u: f"{MODELS}/{m}/profile", {"seconds": 0.1}),
    "list profiles": Endpoint("GET", lambda m, u: f"{MODELS}/{m}/profiles"),
}

LISTED = _reads("listed", hidden="unlisted")
EXPECTED: dict[str, dict[tuple[str, str], int | str]] = {
    "get model": _reads(),
    "get metadata": _reads(),
    "get content": _reads(),
    "update namespace": _changes(204),
    "delete idle model": _changes(204),
    "delete deployed model": _changes(409),
    "deploy": _changes(201),
    "get deployment": _reads(),
    "get deployment api": _reads(),
    "list tensors": _reads(),
    "score": _reads(),
    "undeploy": _changes(204),
    "list grants": _changes(200),
    "grant view": _changes(201),
    "revoke grant": _changes(204),
    "list models": LISTED,
    "list deployments": LISTED,
    "derive variant": _changes(202),
    "profile": _changes(202),
    "list profiles": _reads(),
}


class Cells:
    """Alice's models for the cells: shared per visibility for reads, one per cell for changes.
    A "granted" model is private with VIEW granted to bob (the other developer)."""

    def __init__(self, alice: Caller, zip_path: Path) -> None:
        self._alice = alice
        self._zip = zip_path.read_bytes()
        self._count = itertools.count()
        self._shared_models: dict[tuple[str, bool], tuple[str, str]] = {}

    def model(self, visibility: str, endpoint: Endpoint) -> tuple[str, str]:
        key = (visibility, endpoint.deployed)
        if not endpoint.fresh and key in self._shared_models:
            return self._shared_models[key]
        number = next(self._count)
        uri = f"cell_{number}"
        model_id = store_model(
            self._alice,
            self._zip,
            name=f"{SECRET_NAME}{number}",
            shared="true" if visibility == "shared" else None,
        )
        grantees = (["bob"] if visibility == "granted" else []) + (
            [endpoint.granted_to] if endpoint.granted_to else []
        )
        for user in grantees:
            result = self._alice.post(f"{MODELS}/{model_id}/grants", json={"user": user})
            assert result.status_code == 201, result.text
        if endpoint.deployed:
            assert self._alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri}).status_code == 201
        if not endpoint.fresh:
            self._shared_models[key] = (model_id, uri)
        return model_id, uri


def _observe(
    caller: Caller | None, client: falcon.testing.TestClient, endpoint: Endpoint, model_id: str, uri: str
) -> int | str:
    body = endpoint.body
    if body is not None and body.get("modelId") == "{model}":
        body = {"modelId": model_id, "uri": uri}
    kwargs: dict[str, object] = {"json": body} if body is not None else {}
    if caller is None:
        result = client.simulate_request(endpoint.method, endpoint.path(model_id, uri), **kwargs)  # type: ignore[arg-type]
    else:
        result = client.simulate_request(
            endpoint.method,
            endpoint.path(model_id, uri),
            headers=caller.headers,
            **kwargs,  # type: ignore[arg-type]
        )
    if result.status_code >= 400:
        error = assert_error_body(result.json)
        if result.status_code in (401, 404):  # tells nothing about a model the caller may not see
            for secret in (SECRET_NAME, "alice", "bob"):  # its name, its owner, whom it is granted to
                assert secret not in result.text, error
        return result.status_code
    if endpoint.listed_in is not None:
        key = model_id if endpoint.listed_in == "modelId" else uri
        return (
            "listed" if any(item[endpoint.listed_in] == key for item in result.json["items"]) else "unlisted"
        )
    return result.status_code


def test_every_endpoint_answers_every_caller_as_the_ownership_rules_say(
    client: falcon.testing.TestClient, services: Services, tmp_path: Path
) -> None:
    services.auth.add_user("carol", PASSWORD)
    callers: dict[str, Caller | None] = {
        "owner": login(client, "alice"),
        "other": login(client, "bob"),
        "third": login(client, "carol"),
        "admin": login(client, "admin"),
        "anonymous": None,
    }
    cells = Cells(callers["owner"], modelzoo.make_zipmap_classifier_zip(tmp_path).zip_path)  # type: ignore[arg-type]
    mismatches = []
    for name, endpoint in ENDPOINTS.items():
        for actor, visibility in itertools.product(ACTORS, VISIBILITY):
            model_id, uri = cells.model(visibility, endpoint)
            observed = _observe(callers[actor], client, endpoint, model_id, uri)
            expected = EXPECTED[name][(actor, visibility)]
            if observed != expected:
                mismatches.append(f"{name:24} {actor:9} {visibility:7} expected {expected}, got {observed}")
    assert not mismatches, "\n" + "\n".join(mismatches)


def test_the_table_covers_every_cell() -> None:
    for name in ENDPOINTS:
        assert set(EXPECTED[name]) == set(itertools.product(ACTORS, VISIBILITY)), name


@pytest.mark.parametrize("actor", ["other", "anonymous"])
def test_a_store_needs_a_token_and_makes_the_caller_the_owner(
    client: falcon.testing.TestClient, tmp_path: Path, actor: str
) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    if actor == "anonymous":
        from tests.api.forms import multipart

        body, content_type = multipart(
            {"modelName": "m", "modelType": "ONNX", "version": "1"},
            {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
        )
        result = client.simulate_post(MODELS, body=body, headers={"Content-Type": content_type})
        assert result.status_code == 401
        assert_error_body(result.json)
        return
    bob = login(client, "bob")
    model_id = store_model(bob, zoo.zip_path, name="m")
    assert bob.get(f"{MODELS}/{model_id}").json["createdBy"] == "bob"


# -- user accounts (issue 19): admins only; for a developer the resources do not exist -----------------

USERS = "/omlmod/v1/users"
USER_CALLS: dict[str, tuple[str, str, dict[str, object] | None, int]] = {
    # name: (method, path, body, the admin's status); a developer gets 404, no token 401
    "list users": ("GET", USERS, None, 200),
    "add user": ("POST", USERS, {"name": "dave", "password": PASSWORD}, 201),
    "get user": ("GET", f"{USERS}/bob", None, 200),
    "reset password": ("POST", f"{USERS}/dave", {"password": "yet another password"}, 200),
    "change role": ("POST", f"{USERS}/dave", {"role": "admin"}, 200),
    "disable user": ("POST", f"{USERS}/dave", {"enabled": False}, 200),
    "enable user": ("POST", f"{USERS}/dave", {"enabled": True}, 200),
}


def test_only_an_admin_manages_users(client: falcon.testing.TestClient, services: Services) -> None:
    callers: dict[str, Caller | None] = {
        "other": login(client, "bob"),
        "anonymous": None,
        "admin": login(client, "admin"),  # last: the developer's calls must not depend on its changes
    }
    mismatches = []
    for actor, caller in callers.items():
        for name, (method, path, body, admin_status) in USER_CALLS.items():
            expected = {"admin": admin_status, "other": 404, "anonymous": 401}[actor]
            headers = caller.headers if caller is not None else {}
            result = client.simulate_request(method, path, headers=headers, json=body)
            if result.status_code >= 400:
                assert_error_body(result.json)
                assert "bob" not in result.text and "dave" not in result.text, result.text
            if result.status_code != expected:
                mismatches.append(f"{name:16} {actor:9} expected {expected}, got {result.status_code}")
    assert not mismatches, "\n" + "\n".join(mismatches)
    dave = services.auth.find_user("dave")
    assert dave is not None and not dave.disabled and dave.roles == ("developer", "admin")
