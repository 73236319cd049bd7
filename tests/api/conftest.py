"""An omlsvc app per test, driven through Falcon's TestClient, with users ready to log in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import falcon.testing
import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services, build_services
from tests.jobdata import InputTables
from tests.modelzoo import IRIS_CLASSES, _iris

PASSWORD = "correct horse battery"


@pytest.fixture
def services(settings: Settings, database: tuple[str, Engine], db_roles: dict[str, str | None]) -> Services:
    services = build_services(settings, engine=database[1])
    services.auth.add_user("admin", PASSWORD, "admin", db_role=db_roles.get("admin"))
    services.auth.add_user("alice", PASSWORD, db_role=db_roles.get("alice"))
    services.auth.add_user("bob", PASSWORD, db_role=db_roles.get("bob"))
    return services


@pytest.fixture
def client(settings: Settings, services: Services) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(settings, services=services))


@dataclass
class Caller:
    """A logged-in user: ``alice.get("/omlmod/v1/models")`` sends her bearer token."""

    client: falcon.testing.TestClient
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: object) -> falcon.testing.Result:
        return self.client.simulate_get(path, headers=self._headers(kwargs), **kwargs)

    def post(self, path: str, **kwargs: object) -> falcon.testing.Result:
        return self.client.simulate_post(path, headers=self._headers(kwargs), **kwargs)

    def put(self, path: str, **kwargs: object) -> falcon.testing.Result:
        return self.client.simulate_put(path, headers=self._headers(kwargs), **kwargs)

    def delete(self, path: str, **kwargs: object) -> falcon.testing.Result:
        return self.client.simulate_delete(path, headers=self._headers(kwargs), **kwargs)

    def _headers(self, kwargs: dict[str, object]) -> dict[str, str]:
        extra = kwargs.pop("headers", None) or {}
        assert isinstance(extra, dict)
        return {**self.headers, **extra}


def login(client: falcon.testing.TestClient, name: str, password: str = PASSWORD) -> Caller:
    result = client.simulate_post(
        "/omlusers/api/oauth2/v1/token",
        json={"grant_type": "password", "username": name, "password": password},
    )
    assert result.status_code == 200, result.text
    return Caller(client, name, result.json["accessToken"])


@pytest.fixture
def alice(client: falcon.testing.TestClient) -> Caller:
    return login(client, "alice")


@pytest.fixture
def bob(client: falcon.testing.TestClient) -> Caller:
    return login(client, "bob")


@pytest.fixture
def admin(client: falcon.testing.TestClient) -> Caller:
    return login(client, "admin")


@pytest.fixture
def tables(
    database: tuple[str, Engine], services: Services, db_roles: dict[str, str | None]
) -> Iterator[InputTables]:
    """Input tables only alice's jobs may read (granted to her on SQLite, to her role on PostgreSQL)."""
    made = InputTables(database[1], readers={"alice": db_roles.get("alice")})
    yield made
    made.drop_all()


@pytest.fixture
def iris_table(tables: InputTables) -> str:
    """Alice's table of the iris features, with their species."""
    x, y = _iris()
    return tables.features("iris_in", x, labels=[IRIS_CLASSES[i] for i in y])
