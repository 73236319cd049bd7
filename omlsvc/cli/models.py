"""``omlsvc local models push|list|show|rm`` (and ``import|variant|profile``, :mod:`omlsvc.cli.tasks`):
the model repository on this machine's database, validated exactly like an upload (the remote
commands are in :mod:`omlsvc.cli.remote_models`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from omlsvc.cli.context import (
    SubParsers,
    act_as,
    add_model_form_arguments,
    add_user_option,
    admin_services,
)
from omlsvc.cli.tasks import add_task_commands

if TYPE_CHECKING:
    from omlsvc.config import Settings


def add_model_commands(commands: SubParsers) -> None:
    models = commands.add_parser(
        "models", help="the model repository, on this machine's database (acting as --user)"
    ).add_subparsers(metavar="ACTION")
    push = models.add_parser("push", help="store a zipped ONNX model (validated like an upload)")
    push.add_argument("zip", type=Path)
    add_model_form_arguments(push)
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
    add_user_option(push, listing, show, remove)
    add_task_commands(models)  # import, variant, profile (issue 15)


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


def _models_push(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.repository.form import parse_model_form

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
    with admin_services(settings) as services, args.zip.open("rb") as handle:
        principal = act_as(services, args.user)
        upload = services.models.receive_upload(_Progress(handle, args.zip.stat().st_size))  # type: ignore[arg-type]
        try:
            record = services.models.store_model(principal, form, upload)
        finally:
            services.models.discard_upload(upload)
    print(record.id)
    return 0


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.repository.rows import ModelFilter

    with admin_services(settings) as services:
        records, _ = services.models.list_models(
            act_as(services, args.user), ModelFilter(name=args.name, namespace=args.namespace)
        )
    for r in records:
        shared = "shared" if r.shared else "private"
        print(
            f"{r.id}\t{r.name}\t{r.version}\t{r.model_type}\t{r.function}\t{r.owner}\t{shared}\t{r.namespace or ''}"
        )
    return 0


def _models_show(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.rest.model_views import metadata_view, model_view

    with admin_services(settings) as services:
        record = services.models.get_model(act_as(services, args.user), args.model_id)
        view = {**model_view(record), "metadata": metadata_view(record.name, services.models.spec(record))}
    print(json.dumps(view, indent=2))
    return 0


def _models_rm(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        services.models.delete_model(act_as(services, args.user), args.model_id)
    print(f"deleted {args.model_id}")
    return 0
