"""Peak memory of a gunicorn worker while it receives a large model upload.

Target (issue 3/7): the worker's resident memory grows by less than 64 MB whatever the model size,
because the upload is spooled to disk, validated in a child process and written in BLOB chunks.
For scale, the same run measures what holding the model the naive way costs (reading the zip into
memory; ``onnx.load`` plus an onnxruntime session) in a fresh process.

    python -m bench.upload_memory [--megabytes 100] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.report import markdown_table, rss_kib, save
from tests.e2e.server import RunningService, running_service
from tests.large_models import make_large_regressor_zip

BLOCK = 1024 * 1024

NAIVE = """
import sys, zipfile, io
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
before = hwm()
data = open(sys.argv[1], "rb").read()
if sys.argv[2] == "onnxruntime":
    import onnx, onnxruntime
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        model = z.read("large.onnx")
    del data
    onnx.load_from_string(model)
    onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
print(hwm() - before)
"""


def upload(url: str, token: str, zip_path: Path) -> tuple[int, str]:
    """Stream a multipart upload from disk, as curl -F does, without holding it in memory."""
    boundary = uuid.uuid4().hex
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in {"modelName": "large", "modelType": "ONNX", "version": "1.0"}.items()
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="modelData"; filename="m.zip"\r\n\r\n'
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head.encode()) + zip_path.stat().st_size + len(tail)
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    connection.putrequest("POST", "/omlmod/v1/models")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    connection.send(head.encode())
    with zip_path.open("rb") as handle:
        while block := handle.read(BLOCK):
            connection.send(block)
    connection.send(tail)
    response = connection.getresponse()
    return response.status, response.read().decode()


def naive_peak_mib(zip_path: Path, how: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", NAIVE, str(zip_path), how], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024


def watched_upload(service: RunningService, zip_path: Path) -> tuple[float, float]:
    """Upload ``zip_path`` to the single worker of ``service`` while sampling its RSS every 10 ms.
    Returns the worker's peak growth over its RSS before the upload (MiB) and the upload's seconds."""
    token = service.token()
    (worker,) = service.worker_pids()
    baseline = rss_kib(worker)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(worker))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    status, body = upload(service.url, token, zip_path)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if status != 201:
        raise SystemExit(f"upload failed: {status} {body}")
    high_water = rss_kib(worker, "VmHWM")
    return (max(peak, high_water) - baseline) / 1024, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="default: the embedded SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        zip_path = make_large_regressor_zip(folder, args.megabytes)
        environ = {"OMLSVC_DATABASE_URL": args.database_url} if args.database_url else {}
        with running_service(folder / "data", workers=1, environ=environ) as service:
            growth, elapsed = watched_upload(service, zip_path)
            database = "PostgreSQL" if args.database_url else "SQLite"
        size_mib = zip_path.stat().st_size / 1024 / 1024
        naive_read = naive_peak_mib(zip_path, "read")
        naive_ort = naive_peak_mib(zip_path, "onnxruntime")
        rows = [
            ["omlsvc worker, whole upload (spool, validate in child, BLOB chunks)", growth, growth / growth],
            ["naive: read the zip into memory", naive_read, naive_read / growth],
            ["naive: onnx.load + onnxruntime session in-process", naive_ort, naive_ort / growth],
        ]
        print(
            f"\nUpload of a {size_mib:.0f} MiB model to {database}: {elapsed:.1f} s, {size_mib / elapsed:.0f} MiB/s\n"
        )
        print(markdown_table(["what", "peak RSS growth (MiB)", "x omlsvc"], rows))
        print(f"\ntarget: < 64 MiB growth -> {'met' if growth < 64 else 'MISSED'}")
        path = save(
            "upload_memory",
            {
                "database": database,
                "model_mib": size_mib,
                "seconds": elapsed,
                "worker_growth_mib": growth,
                "naive_read_mib": naive_read,
                "naive_onnxruntime_mib": naive_ort,
            },
        )
        print(f"saved {path}")


if __name__ == "__main__":
    main()
