"""The ``omlsvc`` command: a thin shell over the same services the HTTP API uses.

Every sub-command builds its collaborators from :class:`omlsvc.config.Settings` and calls one
service method; errors are printed as one line and turned into a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from omlsvc import __version__
from omlsvc.config import Settings, SettingsError
from omlsvc.core.errors import InvalidInput, NotFound, OmlError
from omlsvc.jobs.cli import add_job_commands

if TYPE_CHECKING:
    from omlsvc.core.authorization import Principal
    from omlsvc.wiring import Services

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
    serve.add_argument(
        "--front",
        choices=("none", "nginx"),
        default="none",
        help="nginx: run nginx on OMLSVC_BIND in front of gunicorn on a unix socket (production)",
    )
    serve.set_defaults(handler=_serve)

    nginx_config = commands.add_parser(
        "nginx-config", help="print the nginx site in front of this service, or of several instances"
    )
    nginx_config.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an instance (repeat for each); without it, the unix socket of `serve --front nginx`",
    )
    nginx_config.set_defaults(handler=_nginx_config)

    db = commands.add_parser("db", help="create or upgrade the schema").add_subparsers(metavar="ACTION")
    db.add_parser("init", help="create missing tables and record the schema version").set_defaults(
        handler=_db_init
    )
    db.add_parser("upgrade", help="bring the schema to this version").set_defaults(handler=_db_init)
    ddl = db.add_parser(
        "ddl", help="print the schema's DDL for a dialect (what sql/<dialect>/schema.sql holds)"
    )
    ddl.add_argument("--dialect", choices=("sqlite", "postgresql", "oracle"), required=True)
    ddl.set_defaults(handler=_db_ddl)

    users = commands.add_parser("users", help="manage users").add_subparsers(metavar="ACTION")
    add = users.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=("developer", "admin"), default="developer")
    add.add_argument(
        "--password-stdin", action="store_true", required=True, help="read the password from stdin"
    )
    add.add_argument(
        "--db-role",
        help="the database identity the user's jobs run as (PostgreSQL role, Oracle user; default: the name)",
    )
    add.set_defaults(handler=_users_add)
    users.add_parser("list", help="list users").set_defaults(handler=_users_list)
    show_user = users.add_parser("show", help="show a user, with the database identity their jobs run as")
    show_user.add_argument("name")
    show_user.set_defaults(handler=_users_show)
    passwd = users.add_parser("passwd", help="set a user's password (their earlier tokens stop working)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", required=True)
    passwd.set_defaults(handler=_users_passwd)
    disable = users.add_parser("disable", help="disable a user (their tokens stop working within a second)")
    disable.add_argument("name")
    disable.set_defaults(handler=_users_disable)
    enable = users.add_parser("enable", help="enable a disabled user (tokens from before stay refused)")
    enable.add_argument("name")
    enable.set_defaults(handler=_users_enable)
    role = users.add_parser("role", help="make a user a developer or an admin (their tokens stop working)")
    role.add_argument("name")
    role.add_argument("role", choices=("developer", "admin"))
    role.set_defaults(handler=_users_role)

    models = commands.add_parser("models", help="the model repository").add_subparsers(metavar="ACTION")
    push = models.add_parser("push", help="store a zipped ONNX model (validated like an upload)")
    push.add_argument("zip", type=Path)
    push.add_argument("--name", required=True)
    push.add_argument("--version", required=True)
    push.add_argument("--type", dest="model_type", default="ONNX", choices=("ONNX", "ONNX_IMG"))
    push.add_argument("--namespace")
    push.add_argument("--description")
    push.add_argument("--shared", action="store_true")
    push.set_defaults(handler=_models_push)
    listing = models.add_parser("list", help="list models")
    listing.add_argument("--name")
    listing.add_argument("--namespace")
    listing.set_defaults(handler=_models_list)
    show = models.add_parser("show", help="show a model and its metadata")
    show.add_argument("model_id")
    show.set_defaults(handler=_models_show)
    remove = models.add_parser("rm", help="delete a model")
    remove.add_argument("model_id")
    remove.set_defaults(handler=_models_rm)

    deploy = commands.add_parser("deploy", help="deploy a model under a URI")
    deploy.add_argument("model_id")
    deploy.add_argument("uri")
    deploy.set_defaults(handler=_deploy)
    undeploy = commands.add_parser("undeploy", help="remove a deployment")
    undeploy.add_argument("uri")
    undeploy.set_defaults(handler=_undeploy)
    deployments = commands.add_parser("deployments", help="deployments").add_subparsers(metavar="ACTION")
    deployments.add_parser("list", help="list deployments").set_defaults(handler=_deployments_list)

    score = commands.add_parser("score", help="score records or an image with a deployment")
    score.add_argument("uri")
    given = score.add_mutually_exclusive_group(required=True)
    given.add_argument("--json", type=Path, help='a JSON file holding {"inputRecords": [...], "topN": N}')
    given.add_argument("--image", type=Path, help="an image file, for image models")
    score.add_argument("--top-n", type=int, help="the best N classes or clusters")
    score.set_defaults(handler=_score)

    add_job_commands(commands, _services, _principal)

    tables = commands.add_parser(
        "tables", help="SQLite: the tables each user's jobs may read (other databases use GRANT)"
    ).add_subparsers(metavar="ACTION")
    grant = tables.add_parser("grant", help="let a user's jobs read a table or view")
    grant.add_argument("table")
    grant.add_argument("user")
    grant.add_argument("--by", default="admin", help="the administrator granting it (recorded)")
    grant.set_defaults(handler=_tables_grant)
    revoke = tables.add_parser("revoke", help="take a grant back")
    revoke.add_argument("table")
    revoke.add_argument("user")
    revoke.set_defaults(handler=_tables_revoke)
    granted = tables.add_parser("list", help="list grants (of one user)")
    granted.add_argument("user", nargs="?")
    granted.set_defaults(handler=_tables_list)

    for sub in (push, listing, show, remove, deploy, undeploy, score):
        sub.add_argument("--user", default="admin", help="act as this user (default: admin)")
    return parser


# -- handlers --------------------------------------------------------------------------------------


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
    """Initialise the schema and, on a database without users, create ``admin``."""
    from omlsvc.auth.passwords import generate_password
    from omlsvc.db.setup import init_schema
    from omlsvc.wiring import build_admin_services

    services = build_admin_services(settings)
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
    print(f"omlsvc {__version__}: database {settings.database_url_masked}, serving on {listening}", file=out)


def _nginx_config(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.front.nginx import FrontFiles, render_site

    if args.upstream:
        sys.stdout.write(render_site(settings, upstreams=args.upstream))
    else:
        sys.stdout.write(render_site(settings, socket=FrontFiles.of(settings).socket))
    return 0


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
    from omlsvc.wiring import build_admin_services

    services = build_admin_services(settings)
    try:
        return action(services.auth)
    finally:
        services.engine.dispose()


class _Progress:
    """Wraps a binary file and draws a progress bar on stderr as it is read."""

    def __init__(self, handle: BinaryIO, total: int, out: TextIO = sys.stderr, width: int = 40) -> None:
        self._handle = handle
        self._total = max(total, 1)
        self._done = 0
        self._out = out
        self._width = width
        self._shown = -1

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._done += len(data)
        percent = min(100, self._done * 100 // self._total)
        if percent != self._shown and self._out.isatty():
            filled = self._width * percent // 100
            self._out.write(f"\r[{'#' * filled}{'.' * (self._width - filled)}] {percent:3d}%")
            if percent == 100:
                self._out.write("\n")
            self._out.flush()
            self._shown = percent
        return data


@contextmanager
def _services(settings: Settings) -> Iterator[Services]:
    from omlsvc.wiring import build_services

    services = build_services(settings)
    try:
        yield services
    finally:
        services.engine.dispose()


def _principal(services: Services, name: str) -> Principal:
    """Act as a user from the command line: the machine's operator speaks for them."""
    from omlsvc.core.authorization import Principal

    user = services.auth.find_user(name)
    if user is None or user.disabled:
        raise NotFound(f"User {name!r} does not exist or is disabled.")
    return Principal(user.name, user.roles)


def _models_push(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.repository.service import parse_model_form

    form = parse_model_form(
        {
            "modelName": args.name,
            "version": args.version,
            "modelType": args.model_type,
            "namespace": args.namespace,
            "description": args.description,
            "shared": "true" if args.shared else "false",
        }
    )
    with _services(settings) as services, args.zip.open("rb") as handle:
        principal = _principal(services, args.user)
        upload = services.models.receive_upload(_Progress(handle, args.zip.stat().st_size))  # type: ignore[arg-type]
        try:
            record = services.models.store_model(principal, form, upload)
        finally:
            services.models.discard_upload(upload)
    print(record.id)
    return 0


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.repository.store import ModelFilter

    with _services(settings) as services:
        records, _ = services.models.list_models(
            _principal(services, args.user), ModelFilter(name=args.name, namespace=args.namespace)
        )
    for r in records:
        shared = "shared" if r.shared else "private"
        print(
            f"{r.id}\t{r.name}\t{r.version}\t{r.model_type}\t{r.function}\t{r.owner}\t{shared}\t{r.namespace or ''}"
        )
    return 0


def _models_show(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.rest.model_views import metadata_view, model_view

    with _services(settings) as services:
        record = services.models.get_model(_principal(services, args.user), args.model_id)
        view = {**model_view(record), "metadata": metadata_view(record.name, services.models.spec(record))}
    print(json.dumps(view, indent=2))
    return 0


def _models_rm(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as services:
        services.models.delete_model(_principal(services, args.user), args.model_id)
    print(f"deleted {args.model_id}")
    return 0


def _deploy(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as services:
        record = services.deployments.deploy(_principal(services, args.user), args.model_id, args.uri)
    print(f"deployed {record.model.id} at /omlmod/v1/deployment/{record.uri}")
    return 0


def _undeploy(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as services:
        services.deployments.undeploy(_principal(services, args.user), args.uri)
    print(f"undeployed {args.uri}")
    return 0


def _deployments_list(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.core.authorization import Principal
    from omlsvc.repository.store import ModelFilter

    with _services(settings) as services:
        records, _ = services.deployments.list_deployments(Principal("admin", ("admin",)), ModelFilter())
    for r in records:
        print(f"{r.uri}\t{r.model.id}\t{r.model.name}\t{r.model.version}\t{r.model.owner}")
    return 0


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.rest.web import parse_json

    with _services(settings) as services:
        principal = _principal(services, args.user)
        if args.image is not None:
            results = services.scoring.score_images(
                principal, args.uri, [args.image.read_bytes()], args.top_n
            )
        else:
            body = parse_json(args.json.read_bytes())
            if not isinstance(body, dict):
                raise InvalidInput("The JSON file must hold an object with inputRecords.")
            if args.top_n is not None:
                body["topN"] = args.top_n
            results = services.scoring.score_records(principal, args.uri, body)
    print(json.dumps({"scoringResults": results}, indent=2))
    return 0


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    return password


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password()
    _with_auth(settings, lambda auth: auth.add_user(args.name, password, args.role, db_role=args.db_role))
    print(f"added user {args.name} ({args.role})")
    return 0


def _users_show(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.jobs.access import database_identity

    with _services(settings) as services:
        user = services.auth.find_user(args.name)
        backend = services.engine.dialect.name
    if user is None:
        raise NotFound(f"User {args.name!r} does not exist.")
    identity = database_identity(user.name, user.db_role, backend)
    print(f"name\t{user.name}")
    print(f"roles\t{','.join(user.roles)}")
    print(f"state\t{'disabled' if user.disabled else 'active'}")
    print(f"created\t{user.created_at:%Y-%m-%d %H:%M:%S}")
    print(f"db_role\t{identity}{'' if user.db_role else ' (default)'}")
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


def _users_role(args: argparse.Namespace, settings: Settings) -> int:
    _with_auth(settings, lambda auth: auth.set_role(args.name, args.role))
    print(f"{args.name} is now {args.role}")
    return 0


def _tables_grant(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as services:
        name = services.table_grants.grant(args.table, args.user, args.by)
    print(f"granted {name} to {args.user}")
    return 0


def _tables_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as services:
        name = services.table_grants.revoke(args.table, args.user)
    print(f"revoked {name} from {args.user}")
    return 0


def _tables_list(args: argparse.Namespace, settings: Settings) -> int:
    with _services(settings) as services:
        grants = services.table_grants.list(args.user)
    for g in grants:
        print(f"{g.username}\t{g.table_name}\t{g.granted_by}\t{g.granted_at:%Y-%m-%d %H:%M:%S}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
