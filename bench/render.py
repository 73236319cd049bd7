"""The scoring bench's report: one Markdown table per section, and the issue's targets with a verdict
each. Every figure is set against raw onnxruntime ("x raw") and, over HTTP, against MLServer."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.plan import Plan, Results
from bench.report import markdown_table

#: The columns of the HTTP sections (3 and 4).
HTTP_HEADERS = [
    "model",
    "server",
    "batch",
    "conc.",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "req/s",
    "rows/s",
    "errors",
    "x raw",
    "x MLServer",
]


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def render(results: Results, plan: Plan) -> str:
    out = raw_section(results, plan) + inprocess_section(results) + http_sections(results, plan)
    if results.images:
        out += images_section(results, plan)
    if results.memory or results.cold:
        out += memory_and_cold_section(results)
    return "\n".join(out)


def raw_section(results: Results, plan: Plan) -> list[str]:
    out = [f"### 1. Raw onnxruntime (`session.run`, {plan.intra_op} intra-op thread(s) per session)\n"]
    rows = []
    for key, value in results.raw.items():
        model, batch = key.split("/")
        rows.append(
            [
                model,
                batch,
                value["p50_ms"],
                value["p99_ms"],
                value["rows_per_s"],
                value.get("capacity_rows_per_s", "-"),
            ]
        )
    out.append(
        markdown_table(
            ["model", "batch", "p50 ms", "p99 ms", "rows/s, 1 stream", f"rows/s, {plan.workers} processes"],
            rows,
        )
    )
    return out


def inprocess_section(results: Results) -> list[str]:
    out = ["\n### 2. Scoring service in-process (auth + JSON parse + score + JSON render, no HTTP)\n"]
    rows = []
    for key, value in results.inprocess.items():
        model, batch = key.split("/")
        raw_rate = results.raw.get(key, {}).get("rows_per_s")
        rows.append(
            [
                model,
                batch,
                value["p50_ms"],
                value["p99_ms"],
                value["rows_per_s"],
                _ratio(value["rows_per_s"], raw_rate),
            ]
        )
    out.append(markdown_table(["model", "batch", "p50 ms", "p99 ms", "rows/s", "x raw"], rows))
    return out


def http_rows(results: Results, filter_: Callable[[dict[str, Any]], bool]) -> list[list[object]]:
    """The HTTP points ``filter_`` keeps, against raw (one stream at concurrency 1, all processes
    above) and against MLServer at the same point."""
    raw = results.raw
    by_key = {(r["server"], r["scenario"], r["batch"], r["concurrency"]): r for r in results.http}
    rows: list[list[object]] = []
    for r in results.http:
        if not filter_(r):
            continue
        key = f"{r['scenario']}/{r['batch']}"
        if r["concurrency"] == 1:
            raw_rate = raw.get(key, {}).get("rows_per_s")
        else:
            raw_rate = raw.get(key, {}).get("capacity_rows_per_s")
        peer = by_key.get(("mlserver", r["scenario"], r["batch"], r["concurrency"]))
        rows.append(
            [
                r["scenario"],
                r["server"],
                r["batch"],
                r["concurrency"],
                r["p50_ms"],
                r["p95_ms"],
                r["p99_ms"],
                r["req_per_s"],
                r["rows_per_s"],
                r["errors"],
                _ratio(r["rows_per_s"], raw_rate),
                _ratio(r["rows_per_s"], peer["rows_per_s"]) if peer and r["server"] != "mlserver" else "-",
            ]
        )
    return rows


def http_sections(results: Results, plan: Plan) -> list[str]:
    return [
        "\n### 3. Over HTTP on loopback, one connection\n",
        markdown_table(HTTP_HEADERS, http_rows(results, lambda r: r["concurrency"] == 1)),
        f"\n### 4. Under concurrency (closed loop, {plan.workers} workers; x raw = against "
        f"{plan.workers} raw processes)\n",
        markdown_table(
            HTTP_HEADERS,
            http_rows(
                results, lambda r: r["concurrency"] > 1 or (r["batch"] == 1 and r["scenario"] == "tabular")
            ),
        ),
    ]


def images_section(results: Results, plan: Plan) -> list[str]:
    img = results.images
    raw_lat = img.get("raw_loop", {})
    capacity = img.get("raw_capacity_images_per_s")
    out = ["\n### 5. Image scoring: 3 MP JPEG upload to the ResNet-50-sized model\n"]
    rows = [
        [
            "raw loop: preprocess + run, 1 process",
            1,
            raw_lat.get("p50_ms"),
            raw_lat.get("p99_ms"),
            raw_lat.get("rows_per_s"),
            "1.00x",
        ],
        [f"raw loop, {plan.workers} processes", plan.workers, "-", "-", capacity, "1.00x"],
    ]
    inproc = results.inprocess.get("resnet50/jpeg")
    if inproc:
        rows.append(
            [
                "omlsvc in-process (no HTTP)",
                1,
                inproc["p50_ms"],
                inproc["p99_ms"],
                inproc["rows_per_s"],
                _ratio(inproc["rows_per_s"], raw_lat.get("rows_per_s")),
            ]
        )
    for label in (1, plan.workers, 2 * plan.workers):
        if (r := img.get(f"omlsvc_c{label}")) is not None:
            base = raw_lat.get("rows_per_s") if label == 1 else capacity
            rows.append(
                [
                    f"omlsvc over HTTP, concurrency {label}",
                    label,
                    r["p50_ms"],
                    r["p99_ms"],
                    r["throughput"],
                    _ratio(r["throughput"], base),
                ]
            )
    out.append(markdown_table(["what", "streams", "p50 ms", "p99 ms", "images/s", "x raw"], rows))
    if "preprocess_only" in img:
        out.append(f"\n(decode + preprocess alone: p50 {img['preprocess_only']['p50_ms']:.1f} ms per image)")
    return out


def memory_and_cold_section(results: Results) -> list[str]:
    out = ["\n### 6. Peak memory and cold start\n"]
    rows = [
        [f"peak RSS, {server}", ", ".join(f"{p:.0f} MiB" for p in peaks)]
        for server, peaks in results.memory.items()
    ]
    out.append(markdown_table(["what", "value"], rows))
    if results.cold:
        out.append(
            "\nCold start of a freshly deployed ResNet-50-sized model (x raw = against creating a session and "
            "running it once in the bench process just before):\n"
        )
        out.append(cold_table(results.cold["deploys"]))
    return out


def cold_table(deploys: list[dict[str, Any]]) -> str:
    rows = []
    for i, d in enumerate(deploys):
        raw_cold = d["raw_session_and_first_run_s"]
        same, other = d["first_score_on_deploying_worker_s"], d["first_score_on_other_worker_s"]
        rows.append(
            [
                i + 1,
                raw_cold * 1000,
                d["deploy_s"] * 1000,
                f"{same * 1000:,.0f} ({_ratio(same, raw_cold)})" if same else "-",
                f"{other * 1000:,.0f} ({_ratio(other, raw_cold)})" if other else "-",
            ]
        )
    headers = [
        "deploy",
        "raw create + run ms",
        "deploy call ms",
        "first score ms, deploying worker",
        "first score ms, other worker",
    ]
    return markdown_table(headers, rows)


def targets(results: Results, plan: Plan) -> list[list[str]]:
    rows = []
    by_key = {(r["server"], r["scenario"], r["batch"], r["concurrency"]): r for r in results.http}
    ours, peer = by_key.get(("omlsvc", "tabular", 1, 16)), by_key.get(("mlserver", "tabular", 1, 16))
    if ours and peer:
        ratio = ours["req_per_s"] / peer["req_per_s"]
        rows.append(
            [
                "tabular batch 1, concurrency 16: throughput >= 2x MLServer, p99 no worse",
                f"{ratio:.2f}x; p99 {ours['p99_ms']:.1f} vs {peer['p99_ms']:.1f} ms",
                "met" if ratio >= 2 and ours["p99_ms"] <= peer["p99_ms"] else "MISSED",
            ]
        )
    img = results.images
    name = f"omlsvc_c{plan.workers}"
    if name in img and img.get("raw_capacity_images_per_s"):
        ratio = statistics.median(img["ratio_rounds"])
        rows.append(
            [
                f"ResNet-50 JPEG upload: images/s >= 0.9x raw preprocess+run loop ({plan.workers} streams each)",
                f"{ratio:.2f}x (median of {len(img['ratio_rounds'])} rounds; {img[name]['throughput']:.2f} vs "
                f"{img['raw_capacity_images_per_s']:.2f} images/s)",
                "met" if ratio >= 0.9 else "MISSED",
            ]
        )
    if results.cold:
        ratios = [
            d["slowest_first_score_s"] / d["raw_session_and_first_run_s"] for d in results.cold["deploys"]
        ]
        ratio = statistics.median(ratios)
        rows.append(
            [
                "cold first score after deploy (slowest worker) <= 1.5x raw create + run",
                f"{ratio:.2f}x (median of {len(ratios)})",
                "met" if ratio <= 1.5 else "MISSED",
            ]
        )
    return rows
