"""Every route the app has, in every spelling of its path, with no token, a garbage token, and the
token of a user who may not see the object: 401, 404 or 405, never a 2xx, 3xx or 5xx.

The routes are read from the app's own router (not a hand list), so a route added tomorrow is
walked too. Falcon's router strips leading slashes and decodes ``%2F``; the variants below are the
spellings that once got past a path-prefix check (``//omlmod/...``), and the ones next to them.
The ``//`` spellings are also sent to a real gunicorn over a raw ``http.client`` connection, which
(unlike most clients) sends the path exactly as written.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pytest

from omlsvc.rest.middleware import is_public
from tests import modelzoo
from tests.api.conftest import Caller, login
from tests.robustness.conftest import World, assert_error_body, seed_world
from tests.robustness.served import call, serving, upload

#: The routes that answer without a token; any other route that does is a hole.
PUBLIC_TEMPLATES = {
    "/omlusers/api/oauth2/v1/token",
    "/omlusers/api/oauth2/v1/token/revoke",
    "/omlusers/tenants/{tenant}/databases/{database}/api/oauth2/v1/token",
    "/omlusers/tenants/{tenant}/databases/{database}/api/oauth2/v1/token/revoke",
    "/health/live",
    "/health/ready",
    # the web console's page and files (issue 19): no data in them; every call they make needs a token
    "/",
    "/console",
    "/console/assets/{name}",
    # the Open Inference Protocol's probes (issue 14), as Triton and KServe serve them
    "/v2/health/live",
    "/v2/health/ready",
}
#: A well-formed job id nobody owns: Bob must not tell it from one of Alice's.
UNKNOWN_JOB = "OML$0A1B2C3D_0A1B_0A1B_0A1B_0A1B2C3D4E5F"
UNKNOWN_TASK = "0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f"
GARBAGE = {"Authorization": "Bearer not.a.token"}
REFUSED_ANONYMOUS = {401, 404, 405}


@dataclass(frozen=True)
class Route:
    template: str
    methods: tuple[str, ...]
    resource: object

    @property
    def names_an_object(self) -> bool:
        return "{" in self.template


def app_routes(app: falcon.App) -> list[Route]:
    """Every (template, methods, resource) in Falcon's compiled router, methods as the resource
    answers them (Falcon's default OPTIONS responder included, its 405 fillers left out)."""
    found: list[Route] = []

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            if node.resource is not None:
                methods = tuple(
                    sorted(
                        method
                        for method, responder in node.method_map.items()
                        if getattr(responder, "__name__", "") != "method_not_allowed"
                    )
                )
                found.append(Route(node.uri_template, methods, node.resource))
            walk(node.children)

    walk(app._router._roots)  # type: ignore[attr-defined]
    return sorted(found, key=lambda route: route.template)


def concrete(template: str, world: World) -> str:
    """The template with Alice's private model, deployment and a job filled in."""
    return (
        template.replace("{model_id}", world.private_id)
        .replace("{uri}", world.private_uri)
        .replace("{jobId}", UNKNOWN_JOB)
        .replace("{username}", "carol")  # issue 19: the users API (admins only), grants
        .replace("{name}", world.private_uri)  # issue 14: a /v2 model is a deployment
        .replace("{version}", "1")
        .replace("{taskId}", UNKNOWN_TASK)  # issue 15
    )


def assert_refusal_body(path: str, body: object) -> None:
    """The OML error body, or under ``/v2`` (as the router reads the path: decoded, extra leading
    slashes ignored, case kept) the Open Inference Protocol's ``{"error": "..."}``."""
    routed = urllib.parse.unquote(path).lstrip("/")
    if routed == "v2" or routed.startswith("v2/"):
        assert isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str), body
        assert body["error"], body
    else:
        assert_error_body(body)


def spellings(path: str) -> list[str]:
    """``path`` as written, and each spelling a router or a server might take for the same thing."""
    segments = path.strip("/").split("/")
    variants = [
        path,
        "/" + path,
        "//" + path,
        "/." + path,
        "/" + "%2F".join(segments),
        "/" + "//".join(segments),
        "/" + "/./".join(segments),
        path.upper(),
        path.swapcase(),
        path.rstrip("/") + "/",
        path.rstrip("/") + "/.",
    ]
    if len(segments) > 1:
        variants.append("/" + segments[0] + "%2F" + "/".join(segments[1:]))
        variants.append("/" + segments[0] + "/" + "%2f".join(segments[1:]))
    return list(dict.fromkeys(variants))


def body_for(template: str, method: str) -> dict[str, Any] | None:
    """A plausible body, so a refusal cannot come from parsing it instead of from the lookup."""
    if method != "POST":
        return None
    if template.endswith("/score"):
        return {"inputRecords": [{"float_input": [[5.1, 3.5, 1.4, 0.2]]}]}
    if template.endswith("/action"):
        return {"action": "RUN"}
    if template.endswith("{jobId}"):
        return {"jobSchedule": {"maxRuns": 1}}
    if template.endswith("{model_id}"):
        return {"description": "taken over"}
    if template.endswith("/deployment"):
        return {"modelId": "not-a-model", "uri": "taken"}
    return {}


def leaks(text: str, world: World) -> bool:
    """Whether an answer says more than the caller sent: the model's name or its owner."""
    rest = text.replace(world.private_uri, "").replace(world.private_id, "")
    return "iris" in rest or "alice" in rest


@pytest.fixture
def walked(client: falcon.testing.TestClient, tmp_path: Path) -> Iterator[tuple[World, list[Route]]]:
    world = seed_world(login(client, "alice"), tmp_path)
    yield world, app_routes(client.app)


def test_the_walk_finds_every_route_and_only_the_intended_ones_are_public(
    walked: tuple[World, list[Route]],
) -> None:
    _, routes = walked
    templates = {route.template for route in routes}
    assert {"/omlmod/v1/deployment/{uri}/score", "/omlmod/v1/models/{model_id}/content"} <= templates
    assert {"/omlmod/v1/jobs/{jobId}/action", "/health/ready"} <= templates
    assert {"/omlmod/v1/users", "/omlmod/v1/users/{username}"} <= templates  # issue 19
    assert {route.template for route in routes if is_public(route.resource)} == PUBLIC_TEMPLATES


@pytest.mark.parametrize("credentials", [{}, GARBAGE], ids=["no-token", "garbage-token"])
def test_no_spelling_of_any_route_answers_without_a_valid_token(
    client: falcon.testing.TestClient, walked: tuple[World, list[Route]], credentials: dict[str, str]
) -> None:
    world, routes = walked
    failures = []
    for route in routes:
        if is_public(route.resource):
            continue
        path = concrete(route.template, world)
        for method in route.methods:
            body = body_for(route.template, method)
            exact = client.simulate_request(method, path, headers=credentials, json=body)
            if exact.status_code != 401:
                failures.append(f"{method} {path}: {exact.status_code}")
            for spelling in spellings(path):
                result = client.simulate_request(method, spelling, headers=credentials, json=body)
                if result.status_code not in REFUSED_ANONYMOUS:
                    failures.append(f"{method} {spelling}: {result.status_code} {result.text[:120]}")
                    continue
                assert_refusal_body(spelling, result.json)
                if leaks(result.text, world):
                    failures.append(f"{method} {spelling}: leaks {result.text[:120]}")
    assert not failures, "\n".join(failures)


def test_another_users_private_objects_are_404_in_every_spelling(
    client: falcon.testing.TestClient, walked: tuple[World, list[Route]]
) -> None:
    world, routes = walked
    bob = login(client, "bob")
    failures = []
    for route in routes:
        if not route.names_an_object or is_public(route.resource):
            continue  # the token paths' {tenant}/{database} name nothing a user owns
        path = concrete(route.template, world)
        for method in route.methods:
            if method == "OPTIONS":
                continue  # Falcon's default responder lists the methods, nothing about the object
            body = body_for(route.template, method)
            for spelling in (path, "/" + path, "//" + path):
                result = bob.client.simulate_request(method, spelling, headers=bob.headers, json=body)
                if result.status_code != 404:
                    failures.append(f"{method} {spelling}: {result.status_code} {result.text[:160]}")
                elif leaks(result.text, world):
                    failures.append(f"{method} {spelling}: leaks {result.text[:160]}")
    assert not failures, "\n".join(failures)


def test_the_owner_still_reaches_her_objects_through_a_doubled_slash(
    walked: tuple[World, list[Route]],
) -> None:
    world, _ = walked
    alice: Caller = world.alice
    assert alice.get(f"//omlmod/v1/models/{world.private_id}").json["modelId"] == world.private_id
    assert alice.get(f"//omlmod/v1/deployment/{world.private_uri}").json["uri"] == world.private_uri


@pytest.mark.slow
def test_gunicorn_refuses_the_doubled_slash_spellings_without_a_token(tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    with serving(tmp_path / "served", workers=1, threads=2) as service:
        admin = service.token()
        stored = upload(service, admin, zoo.zip_path.read_bytes(), name="house", shared="true")
        assert stored.status == 201, stored.body
        model_id = stored.body["modelId"]
        deployed = call(
            service, admin, "POST", "/omlmod/v1/deployment", {"modelId": model_id, "uri": "house"}
        )
        assert deployed.status == 201, deployed.body
        score = {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]]}]}
        requests: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", "/omlmod/v1/deployment/house", None),
            ("POST", "/omlmod/v1/deployment/house/score", score),
            ("GET", f"/omlmod/v1/models/{model_id}/content", None),
            ("GET", f"/omlmod/v1/models/{model_id}", None),
            ("GET", "/omlmod/v1/models", None),
        ]
        for method, path, body in requests:
            assert call(service, admin, method, "//" + path.lstrip("/"), body).status < 300
            for spelling in ("/" + path, "//" + path, "/omlmod%2F" + path.removeprefix("/omlmod/")):
                answer = call(service, None, method, spelling, body)
                assert answer.status in REFUSED_ANONYMOUS, (method, spelling, answer.status, answer.body)
                assert isinstance(answer.body, dict), (method, spelling, answer.body)
                assert_error_body(answer.body)
                assert answer.headers["x-content-type-options"] == "nosniff"
