"""``omlsvc users add|list|show|passwd|disable|enable|role``: accounts, from the machine's shell."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from omlsvc.cli.context import SubParsers, admin_services, read_password
from omlsvc.core.errors import NotFound

if TYPE_CHECKING:
    from omlsvc.config import Settings


def add_user_commands(commands: SubParsers) -> None:
    users = commands.add_parser("users", help="local: manage users").add_subparsers(metavar="ACTION")
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


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password()
    with admin_services(settings) as services:
        services.auth.add_user(args.name, password, args.role, db_role=args.db_role)
    print(f"added user {args.name} ({args.role})")
    return 0


def _users_show(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.jobs.access import database_identity

    with admin_services(settings) as services:
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
    with admin_services(settings) as services:
        users = services.auth.list_users()
    for user in users:
        state = "disabled" if user.disabled else "active"
        print(f"{user.name}\t{','.join(user.roles)}\t{state}\t{user.created_at:%Y-%m-%d %H:%M:%S}")
    return 0


def _users_passwd(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password()
    with admin_services(settings) as services:
        services.auth.set_password(args.name, password)
    print(f"password of {args.name} changed")
    return 0


def _users_disable(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        services.auth.set_disabled(args.name, True)
    print(f"disabled {args.name}")
    return 0


def _users_enable(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        services.auth.set_disabled(args.name, False)
    print(f"enabled {args.name}")
    return 0


def _users_role(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        services.auth.set_role(args.name, args.role)
    print(f"{args.name} is now {args.role}")
    return 0
