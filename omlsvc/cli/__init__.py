"""The ``omlsvc`` command. Remote commands (login, models, deploy, undeploy, deployments, score, jobs,
tasks) act on a service through its REST API as the signed-in user; the server-local administration
commands (serve, db, users, tables, jobs worker, and `local ...`) open this machine's database.

A local sub-command builds its collaborators from :class:`omlsvc.config.Settings` and calls one
service method; a remote one calls :mod:`omlsvc.client` and never reads the server's settings. Errors
are printed as one line and turned into a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from omlsvc import __version__
from omlsvc.cli.context import act_as, admin_services, scoring_services
from omlsvc.cli.db import add_db_commands
from omlsvc.cli.deployments import add_deployment_commands
from omlsvc.cli.jobs import add_job_commands, add_job_worker_command
from omlsvc.cli.models import add_model_commands
from omlsvc.cli.output import error_out
from omlsvc.cli.remote import NotSignedIn, add_login_commands
from omlsvc.cli.remote_jobs import add_remote_job_commands, add_remote_task_commands
from omlsvc.cli.remote_models import (
    add_remote_deployment_commands,
    add_remote_model_commands,
    add_remote_score_command,
)
from omlsvc.cli.score import add_score_command
from omlsvc.cli.serve import add_serve_commands
from omlsvc.cli.tables import add_table_commands
from omlsvc.cli.users import add_user_commands
from omlsvc.core.errors import OmlError

DESCRIPTION = """\
Remote (the service you signed in to with `omlsvc login URL`, or OMLSVC_URL and OMLSVC_TOKEN, with
your rights): login, logout, models, deploy, undeploy, deployments, score, jobs, tasks.
Server-local administration (opens this machine's database; run on the server): serve, db, users,
tables, jobs worker, and `local models|deploy|undeploy|deployments|score|jobs`, which act as --user.
"""


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    env = os.environ if environ is None else environ
    if getattr(args, "remote", False):
        return _remote(args, env)
    from omlsvc.config import Settings, SettingsError

    try:
        settings = Settings.from_env(env)
        return int(args.handler(args, settings))
    except SettingsError as error:
        print(f"omlsvc: {error}", file=sys.stderr)
        return 2
    except OmlError as error:
        error_out(f"omlsvc: {error.message}", error.details)
        return 1


def _remote(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run a remote command: the client's errors become one line (and the details) on stderr."""
    from omlsvc.client import AuthenticationError, ClientError, ServiceError

    try:
        return int(args.handler(args, environ))
    except NotSignedIn as error:
        print(f"omlsvc: {error}", file=sys.stderr)
        return 2
    except ServiceError as error:
        error_out(f"omlsvc: {error.message} ({error.code})", error.details)
        if isinstance(error, AuthenticationError) and getattr(args.handler, "__name__", "") != "_login":
            print("  (sign in again: omlsvc login URL)", file=sys.stderr)
        return 1
    except (ClientError, OSError) as error:
        print(f"omlsvc: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    """Every command family adds its own sub-commands, in the order ``omlsvc --help`` lists them."""
    parser = argparse.ArgumentParser(
        prog="omlsvc", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"omlsvc {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    add_login_commands(commands)
    add_remote_model_commands(commands)
    add_remote_deployment_commands(commands)
    add_remote_score_command(commands)
    jobs = add_remote_job_commands(commands)
    add_job_worker_command(jobs, scoring_services)
    add_remote_task_commands(commands)
    add_serve_commands(commands)
    add_db_commands(commands)
    add_user_commands(commands)
    add_table_commands(commands)
    local = commands.add_parser(
        "local",
        help="local: models, deployments, scoring and jobs on this machine's database, acting as --user",
        description="The server-local versions of the remote commands: they open this machine's "
        "database directly and act as --user (the machine's operator speaks for them).",
    ).add_subparsers(title="commands", metavar="COMMAND")
    add_model_commands(local)
    add_deployment_commands(local)
    add_score_command(local)
    add_job_commands(local, admin_services, scoring_services, act_as)
    return parser
