"""``omlsvc serve`` and ``omlsvc nginx-config``: the service itself, alone or behind nginx."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, TextIO

from omlsvc import __version__
from omlsvc.cli.context import SubParsers, admin_services
from omlsvc.core.logs import announcement

if TYPE_CHECKING:
    from omlsvc.config import Settings


def add_serve_commands(commands: SubParsers) -> None:
    serve = commands.add_parser(
        "serve", help="local: initialise the database if needed and serve with gunicorn"
    )
    serve.add_argument(
        "--front",
        choices=("none", "nginx"),
        default="none",
        help="nginx: run nginx on OMLSVC_BIND in front of gunicorn on a unix socket (production)",
    )
    serve.set_defaults(handler=_serve)

    nginx_config = commands.add_parser(
        "nginx-config", help="local: print the nginx site in front of this service, or of several instances"
    )
    nginx_config.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an instance (repeat for each); without it, the unix socket of `serve --front nginx`",
    )
    nginx_config.set_defaults(handler=_nginx_config)


def _serve(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    if args.front == "nginx":
        from omlsvc.front.launcher import NginxFront

        front = NginxFront.prepare(settings)  # nginx found, the port free: before anything else
        _prepare(settings, out, f"http://{settings.bind} (nginx, gunicorn on unix:{front.files.socket})")
        out.flush()
        return front.run()
    _prepare(
        settings, out, f"unix:{settings.unix_socket}" if settings.unix_socket else f"http://{settings.bind}"
    )
    out.flush()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:omlsvc.gunicorn_conf", "omlsvc.wsgi:app"]
    os.execv(sys.executable, command)  # noqa: S606 - replaces this process: gunicorn's master owns the terminal


def _prepare(settings: Settings, out: TextIO, listening: str) -> None:
    """Initialise the schema and, on a database without users, create ``admin``. The lines go to the
    terminal (the log gunicorn then writes to), one JSON object each with ``OMLSVC_LOG_FORMAT=json``."""
    from omlsvc.auth.passwords import generate_password
    from omlsvc.db.setup import init_schema

    def say(line: str) -> None:
        print(announcement(line, settings.log_format, logger="omlsvc.serve"), file=out)

    with admin_services(settings) as services:
        init_schema(services.engine)
        password = settings.admin_password or generate_password()
        if services.auth.ensure_admin(password):
            if settings.admin_password:
                say("Created user 'admin' with the password from OMLSVC_ADMIN_PASSWORD.")
            else:
                # the one line that shows a password: the first start without OMLSVC_ADMIN_PASSWORD
                say(f"Created user 'admin' with password: {password}")
                say("(shown once; change it with: omlsvc users passwd admin --password-stdin)")
    say(f"omlsvc {__version__}: database {settings.database_url_masked}, serving on {listening}")


def _nginx_config(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.front.nginx import FrontFiles, render_site

    if args.upstream:
        sys.stdout.write(render_site(settings, upstreams=args.upstream))
    else:
        sys.stdout.write(render_site(settings, socket=FrontFiles.of(settings).socket))
    return 0
