"""``omlsvc models import|variant|profile`` (issue 15): submit a task, wait for it with a progress
bar, print what it made.

Waiting works with or without a server: while the command waits, a task worker runs in this
process too, so whichever runner (this one, or a server's) takes the task first does it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from omlsvc.cli.context import (
    SubParsers,
    act_as,
    add_model_form_arguments,
    add_no_wait_option,
    add_profile_arguments,
    add_user_option,
    add_variant_arguments,
    admin_services,
)
from omlsvc.cli.output import error_out

if TYPE_CHECKING:
    from omlsvc.config import Settings
    from omlsvc.core.authorization import Principal
    from omlsvc.tasks.records import TaskRecord
    from omlsvc.wiring import AdminServices

POLL_S = 0.3


def add_task_commands(models: SubParsers) -> None:
    """Adds ``import``, ``variant`` and ``profile`` to ``omlsvc models``."""
    imported = models.add_parser("import", help="import a zipped ONNX model from an http(s) URL (a task)")
    imported.add_argument("url")
    add_model_form_arguments(imported)
    imported.add_argument("--sha256", help="refuse the file unless its SHA-256 is this")
    imported.set_defaults(handler=_import)
    variant = models.add_parser("variant", help="derive an fp16, int8 or optimized variant (a task)")
    add_variant_arguments(variant)
    variant.set_defaults(handler=_variant)
    profile = models.add_parser("profile", help="print a model's profiles as a table; --run makes a new one")
    add_profile_arguments(profile, providers_help="repeatable; default: all here")
    profile.set_defaults(handler=_profile)
    add_no_wait_option(imported, variant, profile)
    add_user_option(imported, variant, profile)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, Any] = {
        "modelName": args.name,
        "version": args.version,
        "modelType": args.model_type,
        "sourceUrl": args.url,
        "shared": bool(args.shared),
    }
    for key, value in (
        ("namespace", args.namespace),
        ("description", args.description),
        ("sha256", args.sha256),
    ):
        if value is not None:
            body[key] = value
    with admin_services(settings) as services:
        principal = act_as(services, args.user)
        task = services.tasks.submit_import(principal, body)
        return _finish(args, services, principal, task)


def _variant(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        principal = act_as(services, args.user)
        task = services.tasks.submit_variant(
            principal, args.model_id, {"kind": args.kind, "version": args.version}
        )
        return _finish(args, services, principal, task)


def _profile(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        principal = act_as(services, args.user)
        if args.run:
            sizes = [int(size) for size in args.batch_sizes.split(",") if size.strip()]
            body: dict[str, Any] = {"batchSizes": sizes, "seconds": args.seconds}
            if args.providers:
                body["providers"] = args.providers
            task = services.tasks.submit_profile(principal, args.model_id, body)
            if args.no_wait:
                print(task.id)
                return 0
            task = wait(services, principal, task.id)
            if task.status != "SUCCEEDED":
                print(f"{task.status}\t{task.message or ''}", file=sys.stderr)
                return 1
        profiles = services.tasks.list_profiles(principal, args.model_id)
    print(profile_table([json.loads(p.result or "{}") for p in profiles[:1]]))
    return 0


def profile_table(results: list[dict[str, Any]]) -> str:
    """One line per provider and batch size of each profile."""
    header = ("provider", "batch", "p50 ms", "p90 ms", "p99 ms", "rows/s", "peak MiB", "session ms")
    lines = [header]
    for result in results:
        for row in result.get("results", []):
            latency = row["latencyMs"]
            lines.append(
                (
                    row["provider"].removesuffix("ExecutionProvider"),
                    str(row["batchSize"]),
                    f"{latency['p50']:.3f}",
                    f"{latency['p90']:.3f}",
                    f"{latency['p99']:.3f}",
                    f"{row['rowsPerSecond']:.1f}",
                    f"{row['peakMemoryBytes'] / 2**20:.1f}",
                    f"{row['sessionCreationMs']:.1f}",
                )
            )
    if len(lines) == 1:
        return "no profiles yet: omlsvc models profile MODEL_ID --run"
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    )


def _finish(args: argparse.Namespace, services: AdminServices, principal: Principal, task: TaskRecord) -> int:
    if args.no_wait:
        print(task.id)
        return 0
    task = wait(services, principal, task.id)
    result = json.loads(task.result or "{}")
    if task.status != "SUCCEEDED":
        error_out(f"{task.status}\t{task.message or ''}", result.get("details", []))
        return 1
    print(json.dumps({"taskId": task.id, "message": task.message, **result}, indent=2))
    return 0


def wait(services: AdminServices, principal: Principal, task_id: str, out: TextIO = sys.stderr) -> TaskRecord:
    """Poll the task until it ends, drawing its progress; a task worker runs meanwhile in this process."""
    from omlsvc.jobs.runner import default_runner_id
    from omlsvc.wiring import build_task_worker

    stop = threading.Event()
    worker = build_task_worker(services, default_runner_id())

    def work() -> None:
        while not stop.is_set():
            if not worker.work_once():
                stop.wait(POLL_S)

    thread = threading.Thread(target=work, name="omlsvc-task-worker", daemon=True)
    thread.start()
    bar = ProgressBar(out)
    try:
        while True:
            task = services.tasks.get_task(principal, task_id)
            bar.show(task.progress, task.message or task.status)
            if task.finished:
                bar.done()
                return task
            time.sleep(POLL_S)
    finally:
        stop.set()
        thread.join()


class ProgressBar:
    """``[#####.....]  50% Downloading: 1024 of 2048 bytes.`` on a terminal; nothing elsewhere."""

    def __init__(self, out: TextIO, width: int = 30) -> None:
        self._out = out
        self._width = width
        self._shown = ""

    def show(self, fraction: float, message: str) -> None:
        if not self._out.isatty():
            return
        filled = int(self._width * max(0.0, min(1.0, fraction)))
        line = f"\r[{'#' * filled}{'.' * (self._width - filled)}] {fraction * 100:3.0f}% {message[:60]:<60}"
        if line != self._shown:
            self._out.write(line)
            self._out.flush()
            self._shown = line

    def done(self) -> None:
        if self._shown:
            self._out.write("\n")
            self._out.flush()
