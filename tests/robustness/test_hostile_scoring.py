"""Hostile score requests: every one gets a clear 4xx (or, at a limit, a correct 200), memory stays
bounded and no worker dies.

The same table runs twice: in process (statuses and error bodies, quick) and against real gunicorn
with two workers, where the worker pids must be unchanged afterwards, each worker's peak memory must
stay within a bound, and the service must still score correctly.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import multipart, store_model
from tests.e2e.server import RunningService
from tests.robustness import hostile
from tests.robustness.conftest import DEPLOYMENTS, assert_error_body, assert_oml_error
from tests.robustness.served import call, memory_kib, serving, store_and_deploy

JSON = "application/json"
TABULAR = "house"  # regressor: float_input [N, 3]
IMAGE = "pets"  # image classifier: 8 x 8 RGB, labels cat/dog/fox/owl
PIPELINE = "titanic"  # cat: string [N, 1], num: float [N, 2]
#: A worker's peak resident memory may grow by this much over the whole table (the largest legal
#: body is 64 MiB of JSON; a fully decodable 7000 x 7000 PNG is 147 MB of pixels).
MAX_PEAK_GROWTH_KIB = 1536 * 1024


@dataclass(frozen=True)
class Hostile:
    uri: str
    body: Callable[[], bytes]
    statuses: tuple[int, ...]
    code: str | None = None
    content_type: str = JSON
    rows: int | None = None  # for a 200: how many results
    heavy: bool = False  # tens of MB or a large decode: only against real gunicorn


def _records(rows: int, per_record: int = 1) -> Callable[[], bytes]:
    return lambda: json.dumps(
        {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]] * per_record}] * rows}
    ).encode()


def _raw(text: bytes) -> Callable[[], bytes]:
    return lambda: text


def _form(data: bytes, *, field: str = "imageData") -> tuple[bytes, str]:
    return multipart({}, {field: ("p.png", data)}, boundary="hostile-boundary-1f3a")


FORM = _form(b"")[1]


def _image_form(data: Callable[[], bytes]) -> Hostile:
    return Hostile(IMAGE, lambda: _form(data())[0], (400,), "INVALID_IMAGE", FORM)


def _b64(data: bytes, count: int = 1) -> Callable[[], bytes]:
    return lambda: json.dumps({"inputRecords": [{"image": base64.b64encode(data).decode()}] * count}).encode()


def _pixels(value: float, batch: int = 1) -> Callable[[], bytes]:
    return lambda: json.dumps({"inputRecords": [{"image": [[[[value] * 8] * 8] * 3] * batch}]}).encode()


HOSTILE: dict[str, Hostile] = {
    # sizes
    "a 60 MB array in one row": Hostile(
        TABULAR,
        lambda: b'{"inputRecords":[{"float_input":[[' + b"0," * 30_000_000 + b"0]]}]}",
        (400,),
        "INVALID_INPUT",
        heavy=True,
    ),
    "300,000 short rows": Hostile(
        TABULAR,
        lambda: b'{"inputRecords":[{"float_input":[' + b"[0,0,0]," * 300_000 + b"[0,0,0]]}]}",
        (413,),
        "PAYLOAD_TOO_LARGE",
        heavy=True,
    ),
    "10,000 records": Hostile(TABULAR, _records(10_000), (200,), rows=10_000),
    "10,000 rows in one record": Hostile(TABULAR, _records(1, 10_000), (200,), rows=10_000),
    "10,001 records": Hostile(TABULAR, _records(10_001), (413,), "PAYLOAD_TOO_LARGE"),
    "200,000 records": Hostile(TABULAR, _records(200_000), (413,), "PAYLOAD_TOO_LARGE", heavy=True),
    "5,000 records of 3 rows each": Hostile(TABULAR, _records(5_000, 3), (413,), "PAYLOAD_TOO_LARGE"),
    # syntax
    "nesting 100,000 deep": Hostile(
        TABULAR, lambda: b'{"inputRecords":' + b"[" * 100_000 + b"]" * 100_000 + b"}", (400,), "INVALID_INPUT"
    ),
    "a deep object": Hostile(
        TABULAR,
        _raw(b'{"inputRecords":[' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}"),
        (400,),
        "INVALID_INPUT",
    ),
    "NaN literal": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[NaN,1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "Infinity literal": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[Infinity,1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "-Infinity literal": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[-Infinity,1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "a number beyond double": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[1e999,1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "a number beyond float": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[1e300,1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "a 400-digit integer": Hostile(
        TABULAR,
        _raw(b'{"inputRecords":[{"float_input":[[' + b"9" * 400 + b",1,2]]}]}"),
        (400,),
        "INVALID_INPUT",
    ),
    "invalid UTF-8": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[["\xff\xfe",1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "not JSON": Hostile(TABULAR, _raw(b"<inputRecords/>"), (400,), "INVALID_INPUT"),
    "XML content type": Hostile(
        TABULAR, _raw(b"<inputRecords/>"), (415,), "UNSUPPORTED_MEDIA_TYPE", "application/xml"
    ),
    "an empty body": Hostile(TABULAR, _raw(b""), (400,), "INVALID_INPUT"),
    # types
    "a string that is not a number": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[["abc",1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "an object as a value": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[{},1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "a null record": Hostile(TABULAR, _raw(b'{"inputRecords":[null]}'), (400,), "INVALID_INPUT"),
    "records as an object": Hostile(
        TABULAR, _raw(b'{"inputRecords":{"float_input":[[1,2,3]]}}'), (400,), "INVALID_INPUT"
    ),
    "a 3-D array for a 2-D input": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[[1],[2],[3]]]}]}'), (400,), "INVALID_INPUT"
    ),
    "topN as a float": Hostile(
        TABULAR, _raw(b'{"inputRecords":[{"float_input":[[1,2,3]]}],"topN":1.5}'), (400,), "INVALID_INPUT"
    ),
    "topN beyond 64 bits": Hostile(
        TABULAR,
        _raw(b'{"inputRecords":[{"float_input":[[1,2,3]]}],"topN":' + b"9" * 40 + b"}"),
        (400,),
        "INVALID_INPUT",
    ),
    "topN 2**62": Hostile(
        TABULAR,
        _raw(b'{"inputRecords":[{"float_input":[[1,2,3]]}],"topN":4611686018427387904}'),
        (200,),
        rows=1,
    ),
    "a boolean for a string input": Hostile(
        PIPELINE, _raw(b'{"inputRecords":[{"cat":[[true]],"num":[[1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "a float for a string input": Hostile(
        PIPELINE, _raw(b'{"inputRecords":[{"cat":[[1.5]],"num":[[1,2]]}]}'), (400,), "INVALID_INPUT"
    ),
    "a megabyte string for a string input": Hostile(
        PIPELINE,
        lambda: json.dumps({"inputRecords": [{"cat": [["x" * 1_000_000]], "num": [[1, 2]]}]}).encode(),
        (200,),
        rows=1,
    ),
    # images
    "a PNG claiming 30000 x 30000 (upload)": _image_form(lambda: hostile.png_claiming(30_000, 30_000)),
    "a PNG claiming 9000 x 9000 (upload)": _image_form(lambda: hostile.png_claiming(9_000, 9_000)),
    "a PNG claiming 1 x 1,000,000,000 (upload)": _image_form(lambda: hostile.png_claiming(1, 1_000_000_000)),
    "a truncated JPEG (upload)": _image_form(hostile.truncated_jpeg),
    "a PNG claiming 30000 x 30000 (base64)": Hostile(
        IMAGE, _b64(hostile.png_claiming(30_000, 30_000)), (400,), "INVALID_IMAGE"
    ),
    "a truncated JPEG (base64)": Hostile(
        IMAGE, lambda: _b64(hostile.truncated_jpeg())(), (400,), "INVALID_IMAGE"
    ),
    "a decodable 7000 x 7000 PNG (upload)": Hostile(
        IMAGE, lambda: _form(hostile.png_bomb())[0], (200,), content_type=FORM, rows=1, heavy=True
    ),
    "65 base64 images": Hostile(IMAGE, _b64(hostile.png_claiming(8, 8), 65), (413,), "PAYLOAD_TOO_LARGE"),
    "pixels beyond float": Hostile(IMAGE, _pixels(1e300), (400,), "INVALID_INPUT"),
    "10,001 images as pixels": Hostile(IMAGE, _pixels(0.5, 10_001), (413,), "PAYLOAD_TOO_LARGE"),
    "not base64": Hostile(
        IMAGE, _raw(b'{"inputRecords":[{"image":"%%%not base64%%%"}]}'), (400,), "INVALID_IMAGE"
    ),
    "an upload without imageData": Hostile(
        IMAGE, lambda: _form(hostile.png_claiming(8, 8), field="other")[0], (400,), "INVALID_INPUT", FORM
    ),
    "an image upload to a tabular model": Hostile(
        TABULAR, lambda: _form(hostile.png_claiming(8, 8))[0], (400,), "INVALID_INPUT", FORM
    ),
}


def _deploy_in_process(caller: Caller, directory: Path) -> None:
    for uri, zoo, model_type in (
        (TABULAR, modelzoo.make_regressor_zip(directory), "ONNX"),
        (IMAGE, modelzoo.make_image_classifier_zip(directory), "ONNX_IMG"),
        (PIPELINE, modelzoo.make_multi_input_pipeline_zip(directory), "ONNX"),
    ):
        model_id = store_model(caller, zoo.zip_path, name=uri, model_type=model_type)
        assert caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri}).status_code == 201


def _check(case: Hostile, status: int, body: object) -> None:
    assert status in case.statuses, (status, str(body)[:300])
    if status >= 400:
        error = assert_error_body(body)
        if case.code:
            assert error["code"] == case.code, error
    else:
        assert isinstance(body, dict)
        assert len(body["scoringResults"]) == case.rows


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_hostile_score_request_is_answered_in_process(alice: Caller, tmp_path: Path) -> None:
    _deploy_in_process(alice, tmp_path)
    for name, case in HOSTILE.items():
        if case.heavy:
            continue
        result = alice.post(
            f"{DEPLOYMENTS}/{case.uri}/score", body=case.body(), headers={"Content-Type": case.content_type}
        )
        try:
            _check(case, result.status_code, result.json if result.text else None)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from None


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_declared_oversized_score_body_is_refused_before_reading(alice: Caller, tmp_path: Path) -> None:
    _deploy_in_process(alice, tmp_path)
    for content_type in (JSON, FORM):
        result = alice.post(
            f"{DEPLOYMENTS}/{TABULAR}/score",
            body=b"{}",
            headers={"Content-Type": content_type, "Content-Length": str(10**12)},
        )
        assert assert_oml_error(result, 413)["code"] == "PAYLOAD_TOO_LARGE"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    directory = tmp_path_factory.mktemp("scoring")
    with serving(directory / "data", workers=2, threads=2) as running:
        token = running.token()
        store_and_deploy(
            running, token, modelzoo.make_regressor_zip(directory).zip_path.read_bytes(), TABULAR
        )
        store_and_deploy(
            running,
            token,
            modelzoo.make_image_classifier_zip(directory).zip_path.read_bytes(),
            IMAGE,
            "ONNX_IMG",
        )
        store_and_deploy(
            running, token, modelzoo.make_multi_input_pipeline_zip(directory).zip_path.read_bytes(), PIPELINE
        )
        yield running


@pytest.mark.slow
def test_hostile_score_requests_leave_every_worker_alive_and_bounded(service: RunningService) -> None:
    token = service.token()
    good = {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]]}]}
    workers = sorted(service.worker_pids())
    assert len(workers) == 2
    for _ in range(8):  # both workers load every model before the baseline is taken
        for uri, body in (
            (TABULAR, good),
            (IMAGE, json.loads(_pixels(0.5)())),
            (PIPELINE, {"inputRecords": [{"cat": [["a"]], "num": [[1, 2]]}]}),
        ):
            assert call(service, token, "POST", f"{DEPLOYMENTS}/{uri}/score", body).status == 200
    before = {pid: memory_kib(pid) for pid in workers}
    expected = call(service, token, "POST", f"{DEPLOYMENTS}/{TABULAR}/score", good).body

    for name, case in HOSTILE.items():
        answer = call(
            service,
            token,
            "POST",
            f"{DEPLOYMENTS}/{case.uri}/score",
            case.body(),
            content_type=case.content_type,
            timeout=120,
        )
        try:
            _check(case, answer.status, answer.body)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from None

    assert sorted(service.worker_pids()) == workers, service.log()[-3000:]
    for pid in workers:
        growth = memory_kib(pid)["VmHWM"] - before[pid]["VmHWM"]
        assert growth < MAX_PEAK_GROWTH_KIB, (pid, growth, before[pid])
    assert call(service, token, "POST", f"{DEPLOYMENTS}/{TABULAR}/score", good).body == expected
    assert "Traceback" not in service.log()
