"""Login throttling: failed logins make a user name and a client address wait, exponentially longer.

Five failures are free; after them each attempt waits 1 s, 2 s, 4 s, ... up to the cap, answered
``429 TOO_MANY_REQUESTS`` with ``Retry-After``, even with the right password, and before any password
is hashed. A success forgets the failures. Each worker also checks only so many passwords at once:
a login that finds them all busy is refused at once instead of holding a request thread.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager

import falcon.testing
import pytest
from sqlalchemy import Engine, select

from omlsvc.auth.service import AuthService
from omlsvc.auth.throttle import PasswordChecks
from omlsvc.auth.tokens import TokenCodec
from omlsvc.config import Settings
from omlsvc.db.schema import login_failures
from omlsvc.rest.app import create_app
from omlsvc.wiring import build_services
from tests.api.conftest import PASSWORD
from tests.api.test_tokens import FakeClock

TOKEN = "/omlusers/api/oauth2/v1/token"
WRONG = "not the password"
HOME = "192.0.2.10"


class CountingChecks(PasswordChecks):
    """The worker's password-check slots, counting the checks that ran."""

    def __init__(self) -> None:
        super().__init__(1)
        self.count = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        with super().slot():
            self.count += 1
            yield


@dataclasses.dataclass
class World:
    client: falcon.testing.TestClient
    clock: FakeClock
    checks: CountingChecks
    engine: Engine

    def login(self, name: str, password: str, address: str = HOME) -> falcon.testing.Result:
        return self.client.simulate_post(
            TOKEN,
            json={"grant_type": "password", "username": name, "password": password},
            remote_addr=address,
        )

    def fail(self, times: int, name: str = "alice", address: str = HOME) -> None:
        for _ in range(times):
            result = self.login(name, WRONG, address)
            assert result.status_code == 401, result.text

    def keys(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(select(login_failures.c.throttle_key)).scalars())


def make_world(settings: Settings, engine: Engine) -> World:
    clock, checks = FakeClock(), CountingChecks()
    services = build_services(settings, engine=engine, clock=clock)
    auth = AuthService(
        services.transactions,
        TokenCodec.from_settings(settings),
        settings,
        clock=clock,
        password_checks=checks,
    )
    services = dataclasses.replace(services, auth=auth)
    for name in ("alice", "bob"):
        auth.add_user(name, PASSWORD)
    return World(falcon.testing.TestClient(create_app(settings, services=services)), clock, checks, engine)


@pytest.fixture
def world(settings: Settings, database: tuple[str, Engine]) -> World:
    return make_world(settings, database[1])


def assert_waits(result: falcon.testing.Result, seconds: int) -> None:
    assert result.status_code == 429, result.text
    assert result.json["code"] == "TOO_MANY_REQUESTS"
    assert f"retry in {seconds} second" in result.json["message"]
    assert result.headers["Retry-After"] == str(seconds)


def test_after_five_failures_even_the_right_password_waits_and_nothing_is_hashed(world: World) -> None:
    world.fail(5)
    checked = world.checks.count
    assert checked == 5
    assert_waits(world.login("alice", PASSWORD), 1)
    assert_waits(world.login("alice", WRONG), 1)
    assert world.checks.count == checked  # refused before any password was hashed


def test_each_further_failure_doubles_the_wait_up_to_the_cap(
    settings: Settings, database: tuple[str, Engine]
) -> None:
    world = make_world(dataclasses.replace(settings, login_max_delay_s=5), database[1])
    world.fail(5)
    for expected in (1, 2, 4, 5, 5):
        assert_waits(world.login("alice", PASSWORD), expected)
        world.clock.now += expected
        world.fail(1)


def test_after_the_wait_the_right_password_works_and_the_failures_are_forgotten(world: World) -> None:
    world.fail(5)
    assert_waits(world.login("alice", PASSWORD), 1)
    world.clock.now += 1
    assert world.login("alice", PASSWORD).status_code == 200
    assert world.keys() == set()
    world.fail(5)  # five free failures again
    assert_waits(world.login("alice", PASSWORD), 1)


def test_one_address_is_throttled_across_user_names(world: World) -> None:
    for name in ("alice", "bob", "mallory", "admin", "x y"):
        world.fail(1, name=name, address=HOME)
    assert_waits(world.login("bob", PASSWORD, address=HOME), 1)
    assert world.login("bob", PASSWORD, address="192.0.2.99").status_code == 200


def test_one_user_name_is_throttled_across_addresses(world: World) -> None:
    for index in range(5):
        world.fail(1, name="alice", address=f"198.51.100.{index}")
    assert_waits(world.login("alice", PASSWORD, address="203.0.113.7"), 1)
    assert world.login("bob", PASSWORD, address="203.0.113.7").status_code == 200


def test_unknown_users_are_throttled_exactly_like_real_ones(world: World) -> None:
    world.fail(5, name="alice", address="198.51.100.1")
    world.fail(5, name="mallory", address="198.51.100.2")
    known = world.login("alice", PASSWORD, address="198.51.100.1")
    unknown = world.login("mallory", PASSWORD, address="198.51.100.2")
    assert_waits(known, 1)
    assert_waits(unknown, 1)
    assert known.json == unknown.json


def test_a_login_that_finds_the_workers_password_checks_busy_is_refused_at_once(world: World) -> None:
    with world.checks.slot():  # another request is checking a password in this worker
        started = time.monotonic()
        result = world.login("alice", PASSWORD)
        assert time.monotonic() - started < 1.0
    assert result.status_code == 429, result.text
    assert result.json["code"] == "TOO_MANY_REQUESTS"
    assert result.headers["Retry-After"] == "1"
    assert world.keys() == set()  # not a failure: nothing was checked
    assert world.login("alice", PASSWORD).status_code == 200


def test_failures_are_forgotten_after_an_hour_without_one(world: World) -> None:
    world.fail(4, name="alice")
    world.clock.now += 3601
    world.fail(1, name="bob", address="192.0.2.99")  # writing purges the rows of long-quiet keys
    assert world.keys() == {"user:bob", "addr:192.0.2.99"}
    world.fail(4, name="alice")  # alice's four old failures no longer count
    assert world.login("alice", PASSWORD).status_code == 200
