"""A closed-loop HTTP load generator: ``concurrency`` connections, each sending its next request as
soon as the previous answer arrived, for a fixed time.

``wrk`` (``apt-get install wrk``) is used when it is on PATH: written in C, it leaves nearly all of
this 2-core machine to the servers. Otherwise an asyncio client with hand-written HTTP/1.1 keep-alive
framing does the same job in Python (it costs the servers some CPU, the same for every server
measured in a run). Either way a run returns the same :class:`LoadResult`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

WRK_SCRIPT = """
local f = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One closed-loop run. Latencies in milliseconds; ``errors`` counts failed or non-2xx answers."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    tool: str

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "throughput": self.throughput}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    concurrency: int,
    seconds: float,
    warmup: float = 1.0,
    use_wrk: bool | None = None,
    timeout_s: float = 60.0,
) -> LoadResult:
    """POST ``body`` to ``url`` from ``concurrency`` connections for ``seconds`` (after ``warmup``)."""
    if use_wrk is None:
        use_wrk = have_wrk()
    if use_wrk:
        if warmup > 0:
            _wrk(url, body, headers, concurrency, warmup, timeout_s)
        return _wrk(url, body, headers, concurrency, seconds, timeout_s)
    return asyncio.run(_python_load(url, body, headers, concurrency, seconds, warmup, timeout_s))


# --- wrk ---------------------------------------------------------------------------------------------


def _wrk(
    url: str, body: bytes, headers: Mapping[str, str], concurrency: int, seconds: float, timeout_s: float
) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="omlsvc-wrk-") as scratch:
        body_path = Path(scratch) / "body"
        body_path.write_bytes(body)
        header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script = Path(scratch) / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=body_path, headers=header_lines))
        # one wrk thread: the client never takes more than one of the machine's cores.
        command = [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={int(timeout_s)}s",
            "-s",
            str(script),
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH-JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    stats = json.loads(line.removeprefix("BENCH-JSON "))
    errors = sum(stats[k] for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        concurrency=concurrency,
        requests=int(stats["requests"]),
        errors=int(errors),
        seconds=stats["duration_us"] / 1e6,
        p50_ms=stats["p50"] / 1000,
        p95_ms=stats["p95"] / 1000,
        p99_ms=stats["p99"] / 1000,
        tool="wrk",
    )


# --- asyncio fallback ----------------------------------------------------------------------------------


async def _python_load(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    concurrency: int,
    seconds: float,
    warmup: float,
    timeout_s: float,
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = head.encode("latin-1") + b"\r\n" + body
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop:
                    return
                writer.write(request)
                try:
                    status = await asyncio.wait_for(_read_response(reader), timeout_s)
                except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                    if sent >= measure_from:
                        errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                if sent >= measure_from:
                    latencies.append(time.perf_counter() - sent)
                    if not 200 <= status < 300:
                        errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = max(1e-9, min(time.perf_counter(), stop + timeout_s) - measure_from)
    values = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    p50, p95, p99 = np.percentile(values, [50, 95, 99]).tolist()
    return LoadResult(concurrency, len(latencies), errors, elapsed, p50, p95, p99, "python")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status
