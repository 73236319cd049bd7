"""``omlsvc tables grant|revoke|list``: on SQLite, the tables each user's jobs may read."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from omlsvc.cli.context import SubParsers, admin_services

if TYPE_CHECKING:
    from omlsvc.config import Settings


def add_table_commands(commands: SubParsers) -> None:
    tables = commands.add_parser(
        "tables", help="local, SQLite: the tables each user's jobs may read (other databases use GRANT)"
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


def _tables_grant(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        name = services.table_grants.grant(args.table, args.user, args.by)
    print(f"granted {name} to {args.user}")
    return 0


def _tables_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        name = services.table_grants.revoke(args.table, args.user)
    print(f"revoked {name} from {args.user}")
    return 0


def _tables_list(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        grants = services.table_grants.list(args.user)
    for g in grants:
        print(f"{g.username}\t{g.table_name}\t{g.granted_by}\t{g.granted_at:%Y-%m-%d %H:%M:%S}")
    return 0
