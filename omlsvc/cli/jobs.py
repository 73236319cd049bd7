"""``omlsvc local jobs create|list|show|run|stop|rm`` and ``omlsvc jobs worker``: the jobs API on this
machine's database, and the runner. (``omlsvc jobs create|list|...`` without ``local`` act on a
remote service: :mod:`omlsvc.cli.remote_jobs`.)

:func:`add_job_commands` is called by :mod:`omlsvc.cli` with its helpers for building services and
acting as a user, so every command shares one way of doing that and this module holds no logic of
its own beyond printing. The commands that may score in this process (``run``, whose ``--wait``
runs the job here, and ``worker``) get a worker's graph; the others get the light one.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omlsvc.config import Settings
    from omlsvc.core.authorization import Principal
    from omlsvc.wiring import AdminServices, Services

AdminFactory = Callable[["Settings"], AbstractContextManager["AdminServices"]]
ServicesFactory = Callable[["Settings"], AbstractContextManager["Services"]]
PrincipalOf = Callable[["AdminServices", str], "Principal"]


def add_job_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    admin: AdminFactory,
    services: ServicesFactory,
    principal: PrincipalOf,
) -> None:
    jobs = commands.add_parser(
        "jobs", help="batch scoring jobs, on this machine's database (acting as --user)"
    ).add_subparsers(metavar="ACTION")

    create = jobs.add_parser(
        "create", help="submit a job from a JSON file (the body of POST /omlmod/v1/jobs)"
    )
    create.add_argument("file", help="the JSON file, or - for stdin")
    listing = jobs.add_parser("list", help="list jobs")
    show = jobs.add_parser("show", help="show a job and its runs")
    show.add_argument("job_id")
    run = jobs.add_parser("run", help="run a job now (the RUN action)")
    run.add_argument("job_id")
    run.add_argument("--wait", action="store_true", help="score it in this process and wait for the result")
    stop = jobs.add_parser("stop", help="stop a job's run in progress")
    stop.add_argument("job_id")
    remove = jobs.add_parser("rm", help="delete a job")
    remove.add_argument("job_id")
    remove.add_argument("--drop-output", action="store_true", help="also drop its output table")

    def bind(handler: Callable[..., int], factory: AdminFactory | ServicesFactory) -> Any:
        return lambda args, settings: handler(args, settings, factory, principal)

    for sub, handler, factory in (
        (create, _create, admin),
        (listing, _list, admin),
        (show, _show, admin),
        (run, _run, services),
        (stop, _stop, admin),
        (remove, _remove, admin),
    ):
        sub.add_argument("--user", default="admin", help="act as this user (default: admin)")
        sub.set_defaults(handler=bind(handler, factory))


def add_job_worker_command(
    jobs: argparse._SubParsersAction[argparse.ArgumentParser], services: ServicesFactory
) -> None:
    """``jobs worker``: the runner, on this machine, over the service's database."""
    worker = jobs.add_parser(
        "worker", help="local: run the job runner on this machine until stopped (SIGTERM or Ctrl-C)"
    )
    worker.add_argument("--once", action="store_true", help="stop when there is nothing left to do")
    worker.set_defaults(handler=lambda args, settings: _worker(args, settings, services, None))


def _create(
    args: argparse.Namespace, settings: Settings, services: AdminFactory, principal: PrincipalOf
) -> int:
    from omlsvc.core.errors import InvalidInput

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{args.file} is not valid JSON: {exc}") from None
    with services(settings) as built:
        job_id = built.jobs.create(principal(built, args.user), body)
    print(job_id)
    return 0


def _list(
    args: argparse.Namespace, settings: Settings, services: AdminFactory, principal: PrincipalOf
) -> int:
    from omlsvc.jobs.records import JobFilter
    from omlsvc.rest.job_views import job_state

    with services(settings) as built:
        details, _ = built.jobs.list_jobs(principal(built, args.user), JobFilter())
    for d in details:
        job = d.job
        next_run = (
            "" if job.next_run_at is None or not job.enabled else f"{job.next_run_at:%Y-%m-%d %H:%M:%S}"
        )
        last = "" if d.last_run is None else d.last_run.status
        print(f"{job.id}\t{job.name}\t{job_state(d)}\t{job.run_count}\t{last}\t{next_run}\t{job.owner}")
    return 0


def _show(
    args: argparse.Namespace, settings: Settings, services: AdminFactory, principal: PrincipalOf
) -> int:
    from omlsvc.jobs.lifecycle import parse_job_id
    from omlsvc.rest.job_views import job_view, run_view
    from omlsvc.rest.jobs import job_path

    job_id = parse_job_id(args.job_id)
    with services(settings) as built:
        caller = principal(built, args.user)
        details = built.jobs.get(caller, job_id)
        runs = built.jobs.runs(caller, job_id)
    view = job_view(details, [{"rel": "self", "href": job_path(job_id)}])
    view["runs"] = [run_view(r) for r in runs]
    print(json.dumps(view, indent=2))
    return 0


def _run(
    args: argparse.Namespace, settings: Settings, services: ServicesFactory, principal: PrincipalOf
) -> int:
    from omlsvc.jobs.lifecycle import parse_job_id
    from omlsvc.jobs.options import options_from
    from omlsvc.wiring import build_runner

    job_id = parse_job_id(args.job_id)
    with services(settings) as built:
        caller = principal(built, args.user)
        built.jobs.act(caller, job_id, "RUN")
        if not args.wait:
            print(f"run of {job_id} requested")
            return 0
        runner = build_runner(built, options_from(settings))
        runner.run_until_idle(timeout_s=7 * 24 * 3600)
        latest = built.jobs.runs(caller, job_id, 1)[0]
    print(
        f"{latest.status}\t{latest.rows_done} rows"
        + (f"\t{latest.error_message}" if latest.error_message else "")
    )
    return 0 if latest.status == "SUCCEEDED" else 1


def _stop(
    args: argparse.Namespace, settings: Settings, services: AdminFactory, principal: PrincipalOf
) -> int:
    from omlsvc.jobs.lifecycle import parse_job_id

    job_id = parse_job_id(args.job_id)
    with services(settings) as built:
        built.jobs.act(principal(built, args.user), job_id, "STOP")
    print(f"stop of {job_id} requested")
    return 0


def _remove(
    args: argparse.Namespace, settings: Settings, services: AdminFactory, principal: PrincipalOf
) -> int:
    from omlsvc.jobs.lifecycle import parse_job_id

    job_id = parse_job_id(args.job_id)
    with services(settings) as built:
        built.jobs.delete(principal(built, args.user), job_id, drop_output=args.drop_output)
    print(f"deleted {job_id}")
    return 0


def _worker(
    args: argparse.Namespace, settings: Settings, services: ServicesFactory, principal: PrincipalOf | None
) -> int:
    """The runner in the foreground; SIGTERM/SIGINT stop it between steps (a chunk in flight is
    finished first, or left to another runner after its lease if the process is killed). It logs to
    stderr in ``OMLSVC_LOG_FORMAT``."""
    # issue 18: this process's metrics are its own (see omlsvc.cli.metrics_endpoint), never values in
    # the gunicorn workers' directory; prometheus_client reads the variable when first imported
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from omlsvc.core.logs import announcement, configure_logging
    from omlsvc.jobs.options import options_from
    from omlsvc.wiring import build_runner

    configure_logging(settings.log_level, settings.log_format)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with services(settings) as built:
        runner = build_runner(built, options_from(settings))
        # Everything allocated so far (modules, the app's objects) lives as long as the process: keep it
        # out of the collector's full passes, which otherwise rescan it while every chunk allocates
        # hundreds of thousands of small result objects (measured: a third of a chunk's time).
        gc.collect()
        gc.freeze()
        started = f"job runner {runner.runner_id} on {settings.database_url_masked}"
        endpoint = None
        if settings.jobs_metrics_bind and settings.metrics_token:
            from omlsvc.cli.metrics_endpoint import serve_metrics

            endpoint = serve_metrics(built.metrics, settings.jobs_metrics_bind, settings.metrics_token)
            started += f", metrics on http://{settings.jobs_metrics_bind}/metrics"
        print(announcement(started, settings.log_format, logger="omlsvc.jobs"), flush=True)
        if args.once:
            runner.run_until_idle(timeout_s=7 * 24 * 3600)
        else:
            runner.run_forever(stop)
        if endpoint is not None:
            endpoint.shutdown()
    return 0
