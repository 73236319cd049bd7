"""The fast access logger writes exactly the line gunicorn's own logger writes for our format, behind
the request (within WRITE_BEHIND_S, in order, several lines in one write)."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import orjson
import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from omlsvc.accesslog import ACCESS_LOG_FORMAT, AccessLogger
from omlsvc.core.write_behind import WRITE_BEHIND_S


class Response:
    def __init__(self, request_id: str | None, sent: int | None = 245) -> None:
        self.status = "200 OK"
        self.sent = sent
        self.headers = [("Content-Type", "application/json"), ("X-Omlsvc-Worker", "1")]
        if request_id is not None:
            self.headers.append(("X-Request-ID", request_id))


class Request:
    headers = [("HOST", "127.0.0.1:8080"), ("USER-AGENT", "curl/8")]


def environ(uri: str = "/omlmod/v1/deployment/house/score") -> dict[str, object]:
    return {
        "REQUEST_METHOD": "POST",
        "RAW_URI": uri,
        "PATH_INFO": uri,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
    }


def logged(
    logger_class: type[Logger], path: Path, response: Response, env: dict[str, object], fmt: str
) -> str:
    config = Config()
    config.set("accesslog", str(path))
    config.set("access_log_format", fmt)
    logger = logger_class(config)
    logger.access(response, Request(), env, datetime.timedelta(seconds=1, microseconds=234_567))
    text = written(path, lines=1)
    for handler in logger.access_log.handlers:
        handler.close()
    return text


def written(path: Path, lines: int) -> str:
    """The file once it holds ``lines`` lines: ours are written behind the request."""
    deadline = time.monotonic() + 20 * WRITE_BEHIND_S
    while path.read_text().count("\n") < lines and time.monotonic() < deadline:
        time.sleep(0.01)
    return path.read_text()


@pytest.mark.parametrize(
    ("response", "env"),
    [
        (Response("0123456789abcdef0123456789abcdef"), environ()),
        (Response('id "with" quotes'), environ('/omlmod/v1/deployment/x"y/score?topN=2')),
        (Response(None, sent=None), environ()),
    ],
)
def test_the_line_is_gunicorns_line(tmp_path: Path, response: Response, env: dict[str, object]) -> None:
    ours = logged(AccessLogger, tmp_path / "ours.log", response, env, ACCESS_LOG_FORMAT)
    theirs = logged(Logger, tmp_path / "theirs.log", response, env, ACCESS_LOG_FORMAT)
    assert ours == theirs


def test_the_line_names_client_request_status_size_duration_and_request_id(tmp_path: Path) -> None:
    line = logged(AccessLogger, tmp_path / "ours.log", Response("r-1"), environ(), ACCESS_LOG_FORMAT)
    assert line == '10.0.0.7 "POST /omlmod/v1/deployment/house/score HTTP/1.1" 200 245 1234ms "r-1"\n'


def test_another_format_is_left_to_gunicorn(tmp_path: Path) -> None:
    fmt = '%(h)s %(m)s %(U)s "%(a)s"'
    ours = logged(AccessLogger, tmp_path / "ours.log", Response("abc"), environ(), fmt)
    assert ours == logged(Logger, tmp_path / "theirs.log", Response("abc"), environ(), fmt)
    assert ours == '10.0.0.7 POST /omlmod/v1/deployment/house/score "-"\n'


def test_with_json_logs_the_line_is_one_object_with_the_requests_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMLSVC_LOG_FORMAT", "json")
    env = {
        **environ("/omlmod/v1/deployment/house/score?secret=1"),
        "omlsvc.request_id": "r-1",
        "omlsvc.user": "alice",
        "omlsvc.route": "/omlmod/v1/deployment/{uri}/score",
    }
    line = logged(AccessLogger, tmp_path / "ours.log", Response("r-1"), env, ACCESS_LOG_FORMAT)
    entry = orjson.loads(line)
    assert entry["logger"] == "gunicorn.access" and entry["level"] == "INFO"
    assert (entry["request_id"], entry["user"], entry["route"]) == (
        "r-1",
        "alice",
        "/omlmod/v1/deployment/{uri}/score",
    )
    assert (entry["status"], entry["duration"]) == (200, 1234)
    assert line.count("\n") == 1


def test_the_lines_of_many_requests_leave_together_in_their_order(tmp_path: Path) -> None:
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = AccessLogger(config)
    for number in range(500):
        response = Response(f"r-{number}")
        logger.access(response, Request(), environ(), datetime.timedelta(milliseconds=3))
    text = written(tmp_path / "access.log", lines=500)
    for handler in logger.access_log.handlers:
        handler.close()
    assert [line.rsplit(" ", 1)[1] for line in text.splitlines()] == [f'"r-{n}"' for n in range(500)]
