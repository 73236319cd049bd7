"""Hostile model uploads: each gets a clear 4xx, and leaves nothing anywhere.

"Nothing" means: no row or chunk in the database, no file in ``<data_dir>/tmp``, and no file written
outside the service's own directories (hostile names carry a unique marker, which is searched for
around the data directory, in ``/tmp``, in the working directory and at the absolute paths named).
The families ``tests/api/test_model_validation.py`` already shows (not a zip, ``..`` and absolute
entry names, a symlink entry, a ratio bomb, ``../../etc/passwd`` external data) are not repeated here
except where this file checks more (the filesystem around the service).

The last tests run against real gunicorn with raw sockets: a client that vanishes halfway through
its upload, and one that declares a multi-gigabyte body.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import falcon.testing
import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from tests.api.conftest import Caller
from tests.api.forms import multipart, upload_model
from tests.e2e.server import RunningService
from tests.robustness import hostile
from tests.robustness.conftest import MODELS, assert_oml_error, row_counts, scratch_files
from tests.robustness.served import call, serving

GIB = 1024**3
NOTHING = {"models": 0, "model_chunks": 0, "deployments": 0}


def written_anywhere(marker: str, *roots: Path) -> list[str]:
    """Every path holding ``marker`` under ``roots`` (recursively) or directly in /tmp and the cwd."""
    found = [str(p) for root in roots for p in root.rglob(f"*{marker}*")]
    for shallow in (Path("/tmp"), Path.cwd(), Path("/")):
        found += [str(p) for p in shallow.glob(f"*{marker}*")]
    return found


def assert_left_nothing(settings: Settings, engine: Engine, marker: str | None = None) -> None:
    assert row_counts(engine) == NOTHING
    assert scratch_files(settings) == []
    if marker is not None:
        assert written_anywhere(marker, settings.data_dir.parent) == []


# --- packages ----------------------------------------------------------------------------------------

PACKAGES: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "declared sizes over the uncompressed limit": (hostile.declared_size_bomb, "bytes uncompressed"),
    "a member that inflates past its declared size": (hostile.lying_size_bomb, "cannot be read"),
    "5000 entries": (hostile.many_entries, "entries"),
    "external data at an absolute path": (
        lambda d: hostile.external_data_package(d, "/etc/passwd"),
        "external",
    ),
    "external data climbing out of a folder": (
        lambda d: hostile.external_data_package(d, "sub/../../../etc/passwd"),
        "external",
    ),
    "external data with a Windows path": (
        lambda d: hostile.external_data_package(d, "C:\\Windows\\win.ini"),
        "external",
    ),
    "external data read far past the file's end": (
        lambda d: hostile.external_data_package(d, "weights.bin", offset=10**12, length=64),
        "",
    ),
    "external data longer than its file": (
        lambda d: hostile.external_data_package(d, "weights.bin", length=64 * GIB),
        "",
    ),
    "external data through a symlink entry": (
        lambda d: hostile.external_data_via_symlink(d, "/etc/passwd"),
        "symbolic link",
    ),
    "a PNG instead of a zip": (lambda d: hostile.png_claiming(10, 10), "zip"),
    "an empty file": (lambda d: b"", "zip"),
    "a zip of nothing": (lambda d: hostile.zip_bytes({}), ".onnx"),
    "an ONNX file that is a JSON document": (
        lambda d: hostile.zip_bytes(
            {"m.onnx": b'{"graph": []}', "metadata.json": b'{"function": "regression"}'}
        ),
        "onnx",
    ),
}


@pytest.mark.parametrize("case", sorted(PACKAGES))
def test_a_hostile_package_is_a_400_that_leaves_nothing(
    alice: Caller, tmp_path: Path, settings: Settings, database: tuple[str, Engine], case: str
) -> None:
    build, fragment = PACKAGES[case]
    result = upload_model(alice, build(tmp_path))
    body = assert_oml_error(result, 400)
    assert body["code"] == "INVALID_MODEL"
    said = " ".join([str(body["message"]), *body.get("details", [])]).lower()  # type: ignore[list-item]
    assert fragment.lower() in said, said
    assert "root:" not in said  # a refusal may name /etc/passwd, never show its content
    assert_left_nothing(settings, database[1])


def test_no_entry_name_writes_outside_the_service(
    alice: Caller, tmp_path: Path, settings: Settings, database: tuple[str, Engine]
) -> None:
    marker = f"omlsvc-evil-{uuid.uuid4().hex[:10]}"
    files = hostile.regressor_files(tmp_path)
    files.update(
        {
            f"../{marker}-1": b"x",
            f"../../../../../../tmp/{marker}-2": b"x",
            f"/tmp/{marker}-3": b"x",
            f"sub/../../{marker}-4": b"x",
            f"..\\..\\{marker}-5": b"x",
            f"C:/{marker}-6": b"x",
            f"./{marker}-7": b"x",
        }
    )
    data = hostile.zip_bytes(files, symlinks={f"{marker}-link": "/etc/passwd", "escape": "../../.."})
    result = upload_model(alice, data)
    assert_oml_error(result, 400)
    assert_left_nothing(settings, database[1], marker)
    assert not Path(f"/tmp/{marker}-3").exists()


# --- the form ----------------------------------------------------------------------------------------


def _two_files(form: tuple[bytes, str]) -> tuple[bytes, str]:
    """The form with its file part sent twice."""
    body, content_type = form
    boundary = content_type.rpartition("boundary=")[2].encode()
    parts = body.split(b"--" + boundary)
    file_part = next(part for part in parts if b'name="modelData"' in part)
    return body.replace(b"--" + boundary + file_part, (b"--" + boundary + file_part) * 2, 1), content_type


def _form(caller: Caller, body: bytes, content_type: str, **headers: str) -> falcon.testing.Result:
    return caller.post(MODELS, body=body, headers={"Content-Type": content_type, **headers})


def test_a_declared_multi_gigabyte_upload_is_refused_before_reading(
    alice: Caller, settings: Settings, database: tuple[str, Engine]
) -> None:
    body, content_type = multipart(
        {"modelName": "m", "modelType": "ONNX", "version": "1"}, {"modelData": ("m.zip", b"PK")}
    )
    result = _form(alice, body, content_type, **{"Content-Length": str(8 * GIB)})
    assert assert_oml_error(result, 413)["code"] == "PAYLOAD_TOO_LARGE"
    assert_left_nothing(settings, database[1])


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda zoo: multipart({f"f{i}": "x" for i in range(200)}, {"modelData": ("m.zip", zoo)}),
            id="200 parts",
        ),
        pytest.param(
            lambda zoo: _two_files(
                multipart(
                    {"modelName": "m", "modelType": "ONNX", "version": "1"}, {"modelData": ("a.zip", zoo)}
                )
            ),
            id="two modelData files",
        ),
        pytest.param(
            lambda zoo: multipart(
                {
                    "modelName": "m",
                    "modelType": "ONNX",
                    "version": "1",
                    "description": "d" * (2 * 1024 * 1024),
                },
                {"modelData": ("m.zip", zoo)},
            ),
            id="a 2 MiB text field",
        ),
        pytest.param(
            lambda zoo: (
                multipart(
                    {"modelName": "m", "modelType": "ONNX", "version": "1"}, {"modelData": ("m.zip", zoo)}
                )[0],
                "multipart/form-data",
            ),
            id="no boundary",
        ),
        pytest.param(
            lambda zoo: (
                b"--x\r\nContent-Disposition: form-data\r\n\r\n" + zoo,
                "multipart/form-data; boundary=x",
            ),
            id="unterminated part without a name",
        ),
    ],
)
def test_a_mangled_form_is_a_4xx_that_leaves_nothing(
    alice: Caller, tmp_path: Path, settings: Settings, database: tuple[str, Engine], build
) -> None:
    zoo = hostile.zip_bytes(hostile.regressor_files(tmp_path))
    body, content_type = build(zoo)
    result = _form(alice, body, content_type)
    assert_oml_error(result, 400, 413)
    assert_left_nothing(settings, database[1])


# --- real gunicorn, raw sockets --------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with serving(tmp_path_factory.mktemp("uploads") / "data", workers=2, threads=2) as running:
        yield running


def _upload_head(service: RunningService, token: str, length: int, boundary: str) -> bytes:
    host = service.url.removeprefix("http://")
    return (
        f"POST {MODELS} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}"
    ).encode()


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.slow
def test_a_client_that_vanishes_mid_upload_leaves_nothing(service: RunningService, tmp_path: Path) -> None:
    token = service.token()
    workers = sorted(service.worker_pids())
    zoo = hostile.zip_bytes(hostile.regressor_files(tmp_path))
    boundary = uuid.uuid4().hex
    body, _ = multipart(
        {"modelName": "gone", "modelType": "ONNX", "version": "1"},
        {"modelData": ("m.zip", zoo + b"\0" * 4_000_000)},
        boundary,
    )
    data_dir = Path(service.log_path).parent
    for cut in (len(body) // 3, len(body) - 10):
        hostile.raw_request(
            service.url, _upload_head(service, token, len(body), boundary), body[:cut], close_after_send=True
        )
    assert _wait_for(lambda: not list((data_dir / "tmp").iterdir()) if (data_dir / "tmp").exists() else True)
    engine = make_engine(f"sqlite:///{data_dir / 'omlsvc.db'}")
    try:
        assert row_counts(engine) == NOTHING
    finally:
        engine.dispose()
    assert sorted(service.worker_pids()) == workers
    assert call(service, token, "GET", MODELS).body["items"] == []


@pytest.mark.slow
def test_a_declared_multi_gigabyte_body_is_answered_at_once_without_waiting_for_it(
    service: RunningService,
) -> None:
    token = service.token()
    started = time.monotonic()
    answer = hostile.raw_request(
        service.url, _upload_head(service, token, 5 * GIB, "b"), b"--b\r\n", timeout=20
    )
    assert time.monotonic() - started < 10
    assert hostile.status_of(answer) == 413
    assert_body = hostile.json_of(answer)
    assert isinstance(assert_body, dict) and assert_body["code"] == "PAYLOAD_TOO_LARGE"
    data_dir = Path(service.log_path).parent
    assert not list((data_dir / "tmp").iterdir()) if (data_dir / "tmp").exists() else True
