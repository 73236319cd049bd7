"""What every command shares: the object graph it works with, and acting as a user.

Commands that only administer (users, tables, models, deployments, most of jobs) work with the
light graph, :func:`admin_services`: the database and the use cases, no onnxruntime session and no
GPU detection. Only the commands that score in this process use :func:`scoring_services`. Either
way the engine is disposed of when the command is done.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias

from omlsvc.core.errors import NotFound

if TYPE_CHECKING:
    from omlsvc.config import Settings
    from omlsvc.core.authorization import Principal
    from omlsvc.wiring import AdminServices, Services

#: What a command family adds its sub-commands to.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@contextmanager
def admin_services(settings: Settings) -> Iterator[AdminServices]:
    """The light graph, for every command that does not score."""
    from omlsvc.wiring import build_admin_services

    services = build_admin_services(settings)
    try:
        yield services
    finally:
        services.engine.dispose()


@contextmanager
def scoring_services(settings: Settings) -> Iterator[Services]:
    """A worker's graph (sessions, GPU), for the commands that score in this process."""
    from omlsvc.wiring import build_services

    services = build_services(settings)
    try:
        yield services
    finally:
        services.engine.dispose()


def act_as(services: AdminServices, name: str) -> Principal:
    """Act as a user from the command line: the machine's operator speaks for them."""
    from omlsvc.core.authorization import Principal

    user = services.auth.find_user(name)
    if user is None or user.disabled:
        raise NotFound(f"User {name!r} does not exist or is disabled.")
    return Principal(user.name, user.roles)


def add_user_option(*commands: argparse.ArgumentParser) -> None:
    """``--user``: whom a command acts as."""
    for command in commands:
        command.add_argument("--user", default="admin", help="act as this user (default: admin)")


def read_password() -> str:
    """One line of stdin, without its line end (``--password-stdin``)."""
    return sys.stdin.readline().rstrip("\r\n")
