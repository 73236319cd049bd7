"""What asking for intermediate tensors costs (issue 16): ten named values of a ResNet-50-sized model
against the plain score of the same JPEG, through the whole service in process (Falcon app, SQLite).

Target: the tensors call costs less than 1.3x the plain score, because the session over the graph
with the ten values added as outputs is built once and cached (the first call pays for the build,
reported on its own line). The ten values are what a client reusing the network asks for: the pooled
features, the logits, the last three bottleneck outputs (2048 x 7 x 7) and five inner activations of
the last stage (512 x 7 x 7): 429,544 numbers per image, an 8 MB answer. Calls alternate (plain, tensors) so that
a noisy machine slows both alike; the median of each is compared.

    python -m bench.tensors [--repeat 15] [--size 224]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import falcon.testing

from bench.models import BenchModel, _resnet50, make_jpeg
from bench.report import markdown_table, save
from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.db.setup import init_schema
from omlsvc.rest.app import create_app
from omlsvc.scoring.tensors import describe_tensors
from omlsvc.wiring import build_services
from tests.api.conftest import Caller, login
from tests.api.forms import multipart, store_model

PASSWORD = "correct horse battery"
DEPLOYMENTS = "/omlmod/v1/deployment"


def chosen_tensors(onnx_path: Path) -> list[str]:
    """Pooled features, logits, the last three block outputs and five inner activations of stage 4."""
    listing = describe_tensors(onnx_path).tensors
    by_op = {
        op: [t.name for t in listing if t.producer == op] for op in ("GlobalAveragePool", "Gemm", "Relu")
    }
    relus = [t for t in listing if t.producer == "Relu"]
    block_outputs = [t.name for t in relus if t.shape is not None and t.shape[1:] == (2048, 7, 7)]
    inner = [t.name for t in relus if t.shape is not None and t.shape[1:] == (512, 7, 7)]
    names = by_op["GlobalAveragePool"] + by_op["Gemm"] + block_outputs[-3:] + inner[-5:]
    return names[:10]


def deploy_resnet(folder: Path) -> tuple[Caller, BenchModel]:
    """A ResNet-50-sized model deployed as ``resnet`` on the app in-process; a logged-in caller."""
    (folder / "models").mkdir()
    model = _resnet50(folder / "models")
    settings = Settings.for_tests(folder / "data", max_response_bytes=256 * 1024 * 1024)
    engine = make_engine(settings.database_url)
    init_schema(engine)
    services = build_services(settings, engine=engine)
    services.auth.add_user("alice", PASSWORD)
    client = falcon.testing.TestClient(create_app(settings, services=services))
    caller = login(client, "alice", PASSWORD)
    model_id = store_model(caller, model.zip_path, name="resnet", model_type="ONNX_IMG")
    assert caller.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "resnet"}).status_code == 201
    return caller, model


def score(caller: Caller, jpeg: bytes, tensors: list[str] | None) -> float:
    """Seconds one JPEG upload takes, asking for ``tensors`` (or the plain answer when None)."""
    fields = {} if tensors is None else {"outputTensors": str(tensors).replace("'", '"')}
    body, content_type = multipart(fields, {"imageData": ("photo.jpg", jpeg)})
    started = time.perf_counter()
    result = caller.post(f"{DEPLOYMENTS}/resnet/score", body=body, headers={"Content-Type": content_type})
    elapsed = time.perf_counter() - started
    assert result.status_code == 200, result.text[:500]
    return elapsed


def report(
    plain: list[float], tensors: list[float], firsts: tuple[float, float], names: list[str], onnx_path: Path
) -> None:
    """Print the table (medians, first calls, the ratio) and save the figures."""
    plain_first, tensors_first = firsts
    plain_median, tensors_median = statistics.median(plain), statistics.median(tensors)
    ratio = tensors_median / plain_median
    listing = describe_tensors(onnx_path)
    values = sum(abs(math.prod(t.shape or ())) for t in listing.tensors if t.name in names)
    rows = [
        [
            "plain score (JPEG 640x480, 1 image)",
            f"{plain_median * 1000:.0f}",
            f"{plain_first * 1000:.0f}",
        ],
        [
            f"outputTensors: 10 values ({values} numbers)",
            f"{tensors_median * 1000:.0f}",
            f"{tensors_first * 1000:.0f} (builds the extended session)",
        ],
        ["ratio (target < 1.3)", f"{ratio:.2f}", ""],
    ]
    print(markdown_table(["call", "median ms", "first call ms"], rows))
    print("\ntensors:", ", ".join(names))
    save(
        "tensors",
        {
            "plain_ms": plain,
            "tensors_ms": tensors,
            "ratio": ratio,
            "names": names,
            "plain_first_s": plain_first,
            "tensors_first_s": tensors_first,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tensors-") as scratch:
        caller, model = deploy_resnet(Path(scratch))
        names = chosen_tensors(model.onnx_path)
        assert len(names) == 10, names
        jpeg = make_jpeg(640, 480)
        plain_first = score(caller, jpeg, None)
        tensors_first = score(caller, jpeg, names)  # builds the extended session
        plain, tensors = [], []
        for _ in range(args.repeat):
            plain.append(score(caller, jpeg, None))
            tensors.append(score(caller, jpeg, names))
        report(plain, tensors, (plain_first, tensors_first), names, model.onnx_path)


if __name__ == "__main__":
    main()
