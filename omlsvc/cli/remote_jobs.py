"""Remote ``omlsvc jobs create|list|show|run|stop|rm`` and ``omlsvc tasks show|wait|cancel``, through
:mod:`omlsvc.client` as the signed-in user. ``omlsvc jobs worker`` (the runner) stays local: it is
added to the same group by :func:`omlsvc.cli.jobs.add_job_worker_command`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from omlsvc.cli.context import SubParsers
from omlsvc.cli.output import rows_out
from omlsvc.cli.remote import connect, output_json, remote
from omlsvc.cli.remote_models import REMOTE


def add_remote_job_commands(commands: SubParsers) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The ``jobs`` group; returned so that the local ``worker`` joins it."""
    jobs = commands.add_parser(
        "jobs", help=f"{REMOTE}: batch scoring jobs; `jobs worker` is local"
    ).add_subparsers(metavar="ACTION")
    create = jobs.add_parser(
        "create", help="submit a job from a JSON file (the body of POST /omlmod/v1/jobs)"
    )
    create.add_argument("file", help="the JSON file, or - for stdin")
    remote(create, _create)
    listing = jobs.add_parser("list", help="list the jobs you may see")
    listing.add_argument("--json", action="store_true", help="JSON, for scripts")
    remote(listing, _list)
    show = jobs.add_parser("show", help="show a job and its runs (JSON)")
    show.add_argument("job_id")
    remote(show, _show)
    run = jobs.add_parser("run", help="run a job now (the RUN action)")
    run.add_argument("job_id")
    run.add_argument("--wait", action="store_true", help="wait for the run to end, showing its progress")
    remote(run, _run)
    stop = jobs.add_parser("stop", help="stop a job's run in progress")
    stop.add_argument("job_id")
    remote(stop, _stop)
    remove = jobs.add_parser("rm", help="delete a job")
    remove.add_argument("job_id")
    remove.add_argument("--drop-output", action="store_true", help="also drop its output table")
    remote(remove, _remove)
    return jobs


def add_remote_task_commands(commands: SubParsers) -> None:
    tasks = commands.add_parser(
        "tasks", help=f"{REMOTE}: long operations (imports, variants, profiles)"
    ).add_subparsers(metavar="ACTION")
    show = tasks.add_parser("show", help="show a task's state (JSON)")
    show.add_argument("task_id")
    remote(show, _task_show)
    wait = tasks.add_parser("wait", help="wait for a task to end; exit status 1 when it failed")
    wait.add_argument("task_id")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds")
    remote(wait, _task_wait)
    cancel = tasks.add_parser("cancel", help="cancel a queued or running task")
    cancel.add_argument("task_id")
    remote(cancel, _task_cancel)


def _create(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from omlsvc.client import ClientError

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientError(f"{args.file} is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ClientError(f"{args.file} must hold a JSON object (jobProperties, jobSchedule).")
    with connect(environ) as client:
        print(client.jobs.create(body))
    return 0


def _list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        items = list(client.jobs.list())
    rows_out(
        items,
        [
            ("id", lambda j: j["jobId"]),
            ("name", lambda j: j["jobRequest"]["jobProperties"].get("jobName")),
            ("state", lambda j: j.get("state")),
            ("runs", lambda j: j.get("runCount")),
            ("last run", lambda j: j.get("lastRunStatus")),
            ("next run", lambda j: j.get("nextRunDate")),
        ],
        as_json=args.json,
    )
    return 0


def _show(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        job = client.jobs.get(args.job_id)
        job["runs"] = client.jobs.runs(args.job_id)
    output_json(job)
    return 0


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        client.jobs.run(args.job_id)
        if not args.wait:
            print(f"run of {args.job_id} requested")
            return 0
        last = client.jobs.wait(args.job_id, progress=sys.stderr.isatty())
    error = last.get("errorMessage")
    print(f"{last['jobRunStatus']}\t{last.get('rowsScored') or 0} rows" + (f"\t{error}" if error else ""))
    return 0 if last["jobRunStatus"] == "SUCCEEDED" else 1


def _stop(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        client.jobs.stop(args.job_id)
    print(f"stop of {args.job_id} requested")
    return 0


def _remove(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        client.jobs.delete(args.job_id, drop_output=args.drop_output)
    print(f"deleted {args.job_id}")
    return 0


def _task_view(task: object) -> dict[str, object]:
    from dataclasses import asdict

    view = asdict(task)  # type: ignore[call-overload]
    return {"taskId": view.pop("task_id"), **view}


def _task_show(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        output_json(_task_view(client.tasks.get(args.task_id)))
    return 0


def _task_wait(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        task = client.tasks.wait(
            args.task_id, timeout_s=args.timeout, progress=sys.stderr.isatty(), raise_on_failure=False
        )
    output_json(_task_view(task))
    return 0 if task.status == "SUCCEEDED" else 1


def _task_cancel(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        client.tasks.cancel(args.task_id)
    print(f"cancel of {args.task_id} requested")
    return 0
