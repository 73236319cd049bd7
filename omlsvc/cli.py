"""The ``omlsvc`` command: a thin shell over the same services the HTTP API uses.

Every sub-command builds its collaborators from :class:`omlsvc.config.Settings` and calls one
service method; errors are printed as one line and turned into a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from omlsvc import __version__
from omlsvc.config import Settings, SettingsError
from omlsvc.errors import OmlError

Handler = Callable[[argparse.Namespace, Settings], int]


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
    parser = argparse.ArgumentParser(prog="omlsvc", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"omlsvc {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="initialise the database if needed and serve with gunicorn")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="create or upgrade the schema").add_subparsers(metavar="ACTION")
    db.add_parser("init", help="create missing tables and record the schema version").set_defaults(handler=_db_init)
    db.add_parser("upgrade", help="bring the schema to this version").set_defaults(handler=_db_init)
    ddl = db.add_parser("ddl", help="print the schema's DDL for a dialect (what sql/<dialect>/schema.sql holds)")
    ddl.add_argument("--dialect", choices=("sqlite", "postgresql", "oracle"), required=True)
    ddl.set_defaults(handler=_db_ddl)

    users = commands.add_parser("users", help="manage users").add_subparsers(metavar="ACTION")
    add = users.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=("developer", "admin"), default="developer")
    add.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    add.set_defaults(handler=_users_add)
    users.add_parser("list", help="list users").set_defaults(handler=_users_list)
    passwd = users.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", required=True)
    passwd.set_defaults(handler=_users_passwd)
    disable = users.add_parser("disable", help="disable a user (their tokens stop working at once)")
    disable.add_argument("name")
    disable.set_defaults(handler=_users_disable)
    enable = users.add_parser("enable", help="enable a disabled user")
    enable.add_argument("name")
    enable.set_defaults(handler=_users_enable)
    return parser


# -- handlers --------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    _prepare(settings, out)
    out.flush()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:omlsvc.gunicorn_conf", "omlsvc.wsgi:app"]
    os.execv(sys.executable, command)  # replaces this process: gunicorn's master owns the terminal


def _prepare(settings: Settings, out: TextIO) -> None:
    """Initialise the schema and, on a database without users, create ``admin``."""
    from omlsvc.app import build_services
    from omlsvc.auth.passwords import generate_password
    from omlsvc.db.setup import init_schema

    services = build_services(settings)
    try:
        init_schema(services.engine)
        password = settings.admin_password or generate_password()
        if services.auth.ensure_admin(password):
            if settings.admin_password:
                print("Created user 'admin' with the password from OMLSVC_ADMIN_PASSWORD.", file=out)
            else:
                print(f"Created user 'admin' with password: {password}", file=out)
                print("(shown once; change it with: omlsvc users passwd admin --password-stdin)", file=out)
    finally:
        services.engine.dispose()
    print(f"omlsvc {__version__}: database {settings.database_url_masked}, serving on http://{settings.bind}", file=out)


def _db_init(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.db.engine import make_engine
    from omlsvc.db.setup import init_schema

    engine = make_engine(settings.database_url)
    try:
        version = init_schema(engine)
    finally:
        engine.dispose()
    print(f"schema version {version} ready at {settings.database_url_masked}")
    return 0


def _db_ddl(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.db.ddl import render_ddl

    sys.stdout.write(render_ddl(args.dialect))
    return 0


def _with_auth(settings: Settings, action: Callable[..., object]) -> object:
    from omlsvc.app import build_services

    services = build_services(settings)
    try:
        return action(services.auth)
    finally:
        services.engine.dispose()


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    return password


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password()
    _with_auth(settings, lambda auth: auth.add_user(args.name, password, args.role))
    print(f"added user {args.name} ({args.role})")
    return 0


def _users_list(args: argparse.Namespace, settings: Settings) -> int:
    users = _with_auth(settings, lambda auth: auth.list_users())
    assert isinstance(users, list)
    for user in users:
        state = "disabled" if user.disabled else "active"
        print(f"{user.name}\t{','.join(user.roles)}\t{state}\t{user.created_at:%Y-%m-%d %H:%M:%S}")
    return 0


def _users_passwd(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password()
    _with_auth(settings, lambda auth: auth.set_password(args.name, password))
    print(f"password of {args.name} changed")
    return 0


def _users_disable(args: argparse.Namespace, settings: Settings) -> int:
    _with_auth(settings, lambda auth: auth.set_disabled(args.name, True))
    print(f"disabled {args.name}")
    return 0


def _users_enable(args: argparse.Namespace, settings: Settings) -> int:
    _with_auth(settings, lambda auth: auth.set_disabled(args.name, False))
    print(f"enabled {args.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
