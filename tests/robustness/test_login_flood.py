"""A password-guessing flood against real gunicorn (2 workers x 4 threads).

Each password check is a 16 MiB scrypt. Before throttling, 100 wrong passwords went through in 8 s,
the right one then worked, and scoring slowed from 2 ms to 191 ms at p99 while the flood ran. Now the
flood is throttled (429 with Retry-After, the right password included), and even with throttling
turned off a worker checks one password at a time and refuses the rest at once, so scoring keeps
its threads. The latency bound is deliberately generous: it catches starved threads, not jitter.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import modelzoo
from tests.e2e.server import ADMIN_PASSWORD, RunningService
from tests.robustness.served import Answer, call, serving, store_and_deploy

TOKEN = "/omlusers/api/oauth2/v1/token"
GUESSES = 100
GUESSERS = 8
#: A score answers in a few milliseconds; a thread starved by password hashing takes far longer.
SCORE_BOUND_S = 1.0


@dataclass
class Flooded:
    answers: list[Answer]
    score_seconds: list[float] = field(default_factory=list)


def guess(service: RunningService, password: str) -> Answer:
    body = {"grant_type": "password", "username": "admin", "password": password}
    return call(service, None, "POST", TOKEN, body, timeout=30)


def flood(service: RunningService, directory: Path) -> Flooded:
    """``GUESSES`` wrong logins from ``GUESSERS`` threads while one client keeps scoring."""
    token = service.token()
    zoo = modelzoo.make_regressor_zip(directory)
    store_and_deploy(service, token, zoo.zip_path.read_bytes(), "house")
    body = {"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]}
    done = threading.Event()
    seconds: list[float] = []

    def keep_scoring() -> None:
        while not done.is_set():
            started = time.monotonic()
            answer = call(service, token, "POST", "/omlmod/v1/deployment/house/score", body, timeout=30)
            seconds.append(time.monotonic() - started)
            assert answer.status == 200, answer.body

    with ThreadPoolExecutor(1) as scorer_pool:
        scorer = scorer_pool.submit(keep_scoring)
        try:
            with ThreadPoolExecutor(GUESSERS) as guessers:
                answers = list(guessers.map(lambda n: guess(service, f"guess-{n:04d}"), range(GUESSES)))
        finally:
            done.set()
        scorer.result(timeout=60)
    return Flooded(answers, seconds)


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[RunningService]:
    with serving(tmp_path / "service", workers=2, threads=4) as service:
        yield service


@pytest.fixture
def unthrottled(tmp_path: Path) -> Iterator[RunningService]:
    environ = {"OMLSVC_LOGIN_FREE_ATTEMPTS": str(10 * GUESSES)}
    with serving(tmp_path / "service", workers=2, threads=4, environ=environ) as service:
        yield service


def assert_refused(answers: list[Answer]) -> Counter[int]:
    statuses = Counter(answer.status for answer in answers)
    assert set(statuses) <= {401, 429}, statuses
    for answer in answers:
        assert answer.body["code"] in ("UNAUTHORIZED", "TOO_MANY_REQUESTS"), answer.body
        if answer.status == 429:
            assert int(answer.headers["retry-after"]) >= 1
    return statuses


@pytest.mark.slow
def test_a_guessing_flood_is_throttled_and_scoring_keeps_answering(
    throttled: RunningService, tmp_path: Path
) -> None:
    flooded = flood(throttled, tmp_path)
    statuses = assert_refused(flooded.answers)
    # at most five free guesses and a few more as each short wait runs out were checked at all
    assert statuses[401] <= 20, statuses
    assert flooded.score_seconds and max(flooded.score_seconds) < SCORE_BOUND_S, max(flooded.score_seconds)
    # most guesses met the worker's busy password check and were refused unchecked; guessed one at a
    # time, the name is blocked after the fifth counted failure...
    for _ in range(6):
        answer = guess(throttled, "one-more-guess")
        if answer.status == 429:
            break
        assert answer.status == 401, answer.body
    assert answer.status == 429 and "failed logins" in answer.body["message"], answer.body
    # ...and once the wait is over, one more wrong guess doubles it: the right password waits too
    time.sleep(int(answer.headers["retry-after"]))
    assert guess(throttled, "one-more-guess").status == 401
    right = guess(throttled, ADMIN_PASSWORD)
    assert right.status == 429, right.body
    assert right.body["code"] == "TOO_MANY_REQUESTS"
    assert int(right.headers["retry-after"]) >= 1


@pytest.mark.slow
def test_without_throttling_each_worker_still_checks_one_password_at_a_time(
    unthrottled: RunningService, tmp_path: Path
) -> None:
    flooded = flood(unthrottled, tmp_path)
    statuses = assert_refused(flooded.answers)
    assert statuses[429] > 0, statuses  # refused at once while the worker's check was busy
    assert flooded.score_seconds and max(flooded.score_seconds) < SCORE_BOUND_S, max(flooded.score_seconds)
    assert guess(unthrottled, ADMIN_PASSWORD).status == 200
