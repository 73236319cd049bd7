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
from omlsvc.cli import db, deployments, jobs, models, score, serve, tables, users
from omlsvc.cli.context import act_as, admin_services, scoring_services
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
    serve.add_commands(commands)
    db.add_commands(commands)
    users.add_commands(commands)
    models.add_commands(commands)
    deployments.add_commands(commands)
    score.add_commands(commands)
    jobs.add_job_commands(commands, admin_services, scoring_services, act_as)
    tables.add_commands(commands)
    return parser
