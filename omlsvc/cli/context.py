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


def add_model_form_arguments(command: argparse.ArgumentParser) -> None:
    """What a new model is described by, for ``push`` and ``import``, local and remote alike: the
    same options, so a command line works against either."""
    command.add_argument("--name", required=True)
    command.add_argument("--version", required=True)
    command.add_argument("--type", dest="model_type", default="ONNX", choices=("ONNX", "ONNX_IMG"))
    command.add_argument("--namespace")
    command.add_argument("--description")
    command.add_argument("--shared", action="store_true")


def add_variant_arguments(command: argparse.ArgumentParser) -> None:
    """``models variant``'s arguments, local and remote alike."""
    command.add_argument("model_id")
    command.add_argument("--kind", required=True, choices=("fp16", "int8", "optimized"))
    command.add_argument("--version", required=True, help="the variant's version (same name as the source)")


def add_profile_arguments(command: argparse.ArgumentParser, *, providers_help: str) -> None:
    """``models profile``'s arguments, local and remote alike but for the default providers, which
    ``providers_help`` names (a remote profile runs on the server's CPU unless told)."""
    command.add_argument("model_id")
    command.add_argument("--run", action="store_true", help="profile the model now (a task), then print")
    command.add_argument("--batch-sizes", default="1,8,64", help="comma-separated (default 1,8,64)")
    command.add_argument("--seconds", type=float, default=2.0, help="per batch size (default 2)")
    command.add_argument("--provider", action="append", dest="providers", help=providers_help)


def add_no_wait_option(*commands: argparse.ArgumentParser) -> None:
    """``--no-wait``: a command that starts a task prints its id instead of waiting for it."""
    for command in commands:
        command.add_argument("--no-wait", action="store_true", help="print the task id and return at once")


def read_password() -> str:
    """One line of stdin, without its line end (``--password-stdin``)."""
    return sys.stdin.readline().rstrip("\r\n")
