"""The ``omlsvc`` command: a thin shell over the same services the HTTP API uses.

Every sub-command builds its collaborators from :class:`omlsvc.config.Settings` and calls one
service method; errors are printed as one line and turned into a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from omlsvc import __version__
from omlsvc.cli.context import act_as, admin_services, scoring_services
from omlsvc.cli.db import add_db_commands
from omlsvc.cli.deployments import add_deployment_commands
from omlsvc.cli.jobs import add_job_commands
from omlsvc.cli.models import add_model_commands
from omlsvc.cli.score import add_score_command
from omlsvc.cli.serve import add_serve_commands
from omlsvc.cli.tables import add_table_commands
from omlsvc.cli.users import add_user_commands
from omlsvc.config import Settings, SettingsError
from omlsvc.core.errors import OmlError


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
        return int(args.handler(args, settings))
    except SettingsError as error:
        print(f"omlsvc: {error}", file=sys.stderr)
        return 2
    except OmlError as error:
        print(f"omlsvc: {error.message}", file=sys.stderr)
        for detail in error.details:
            print(f"  - {detail}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    """Every command family adds its own sub-commands, in the order ``omlsvc --help`` lists them."""
    parser = argparse.ArgumentParser(prog="omlsvc", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"omlsvc {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    add_serve_commands(commands)
    add_db_commands(commands)
    add_user_commands(commands)
    add_model_commands(commands)
    add_deployment_commands(commands)
    add_score_command(commands)
    add_job_commands(commands, admin_services, scoring_services, act_as)
    add_table_commands(commands)
    return parser
