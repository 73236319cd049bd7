"""``omlsvc db init|upgrade|ddl``: the schema, created, brought up to date or printed."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from omlsvc.cli.context import SubParsers

if TYPE_CHECKING:
    from omlsvc.config import Settings


def add_db_commands(commands: SubParsers) -> None:
    db = commands.add_parser("db", help="local: create or upgrade the schema").add_subparsers(
        metavar="ACTION"
    )
    db.add_parser("init", help="create missing tables and record the schema version").set_defaults(
        handler=_db_init
    )
    db.add_parser("upgrade", help="bring the schema to this version").set_defaults(handler=_db_init)
    ddl = db.add_parser(
        "ddl", help="print the schema's DDL for a dialect (what sql/<dialect>/schema.sql holds)"
    )
    ddl.add_argument("--dialect", choices=("sqlite", "postgresql", "oracle"), required=True)
    ddl.set_defaults(handler=_db_ddl)


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
