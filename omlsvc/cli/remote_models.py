"""Remote ``omlsvc models push|list|show|rm|import|variant|profile``, ``deploy``, ``undeploy``, ``deployments list``
and ``score``: the same commands as the server-local ones (``omlsvc local ...``), sent to the service
through :mod:`omlsvc.client` as the signed-in user."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from omlsvc.cli.context import (
    SubParsers,
    add_model_form_arguments,
    add_no_wait_option,
    add_profile_arguments,
    add_variant_arguments,
)
from omlsvc.cli.output import rows_out, upload_progress
from omlsvc.cli.remote import connect, output_json, remote

if TYPE_CHECKING:
    from omlsvc.client import Client, Task

REMOTE = "remote"


def add_remote_model_commands(commands: SubParsers) -> None:
    models = commands.add_parser("models", help=f"{REMOTE}: the model repository").add_subparsers(
        metavar="ACTION"
    )
    push = models.add_parser("push", help="store a zipped ONNX model (the service validates it)")
    push.add_argument("zip", type=Path)
    add_model_form_arguments(push)
    remote(push, _push)
    listing = models.add_parser("list", help="list the models you may see")
    listing.add_argument("--name")
    listing.add_argument("--version")
    listing.add_argument("--namespace")
    listing.add_argument("--json", action="store_true", help="JSON, for scripts")
    remote(listing, _list)
    show = models.add_parser("show", help="show a model and its metadata (JSON)")
    show.add_argument("model_id")
    remote(show, _show)
    remove = models.add_parser("rm", help="delete an undeployed model")
    remove.add_argument("model_id")
    remote(remove, _remove)
    imported = models.add_parser("import", help="have the service fetch a model zip from a URL")
    imported.add_argument("source_url")
    add_model_form_arguments(imported)
    imported.add_argument("--sha256", help="the zip's expected SHA-256 (hex)")
    remote(imported, _import)
    variant = models.add_parser("variant", help="derive an fp16, int8 or optimized variant (a task)")
    add_variant_arguments(variant)
    remote(variant, _variant)
    profile = models.add_parser("profile", help="print a model's profiles (JSON); --run makes a new one")
    add_profile_arguments(profile, providers_help="repeatable; default: CPU")
    remote(profile, _profile)
    add_no_wait_option(imported, variant, profile)


def add_remote_deployment_commands(commands: SubParsers) -> None:
    deploy = commands.add_parser("deploy", help=f"{REMOTE}: deploy a model under a URI")
    deploy.add_argument("model_id")
    deploy.add_argument("uri")
    deploy.add_argument("--score-timeout", type=float, help="seconds a model run may take")
    remote(deploy, _deploy)
    undeploy = commands.add_parser("undeploy", help=f"{REMOTE}: remove a deployment")
    undeploy.add_argument("uri")
    remote(undeploy, _undeploy)
    deployments = commands.add_parser("deployments", help=f"{REMOTE}: deployments").add_subparsers(
        metavar="ACTION"
    )
    listing = deployments.add_parser("list", help="list the deployments you may see")
    listing.add_argument("--json", action="store_true", help="JSON, for scripts")
    remote(listing, _deployments_list)


def add_remote_score_command(commands: SubParsers) -> None:
    score = commands.add_parser("score", help=f"{REMOTE}: score records or an image with a deployment")
    score.add_argument("uri")
    given = score.add_mutually_exclusive_group(required=True)
    given.add_argument("--json", type=Path, help='a JSON file holding {"inputRecords": [...], "topN": N}')
    given.add_argument("--image", type=Path, help="an image file, for image models")
    score.add_argument("--top-n", type=int, help="the best N classes or clusters")
    remote(score, _score)


def _push(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client, upload_progress(args.zip.name) as progress:
        model_id = client.models.push(
            args.zip,
            args.name,
            args.version,
            model_type=args.model_type,
            namespace=args.namespace,
            description=args.description,
            shared=args.shared,
            progress=progress,
        )
    print(model_id)
    return 0


def _list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        items = list(client.models.list(name=args.name, version=args.version, namespace=args.namespace))
    rows_out(
        items,
        [
            ("id", lambda m: m["modelId"]),
            ("name", lambda m: m["modelName"]),
            ("version", lambda m: m["version"]),
            ("type", lambda m: m["modelType"]),
            ("owner", lambda m: m["createdBy"]),
            ("shared", lambda m: "shared" if m["shared"] else "private"),
            ("namespace", lambda m: m.get("namespace")),
        ],
        as_json=args.json,
    )
    return 0


def _show(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        model = client.models.get(args.model_id)
        model.pop("links", None)
        model["metadata"] = client.models.metadata(args.model_id)
    output_json(model)
    return 0


def _remove(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        client.models.delete(args.model_id)
    print(f"deleted {args.model_id}")
    return 0


def _import(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        task = client.models.import_url(
            args.source_url,
            args.name,
            args.version,
            model_type=args.model_type,
            namespace=args.namespace,
            description=args.description,
            shared=args.shared,
            sha256=args.sha256,
        )
        return _finish(client, task, args.no_wait)


def _variant(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        return _finish(client, client.models.variants(args.model_id, args.kind, args.version), args.no_wait)


def _profile(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from omlsvc.client import ClientError

    with connect(environ) as client:
        if args.run:
            try:
                sizes = [int(size) for size in args.batch_sizes.split(",") if size.strip()]
            except ValueError:
                raise ClientError(f"--batch-sizes must be whole numbers, got {args.batch_sizes!r}.") from None
            task = client.models.profile(
                args.model_id,
                batch_sizes=sizes,
                seconds=args.seconds,
                providers=args.providers or ("CPUExecutionProvider",),
            )
            if args.no_wait:
                print(task.task_id)
                return 0
            client.tasks.wait(task.task_id, progress=sys.stderr.isatty())
        output_json(client.models.profiles(args.model_id))
    return 0


def _finish(client: Client, task: Task, no_wait: bool) -> int:
    """Print the task id (``--no-wait``), or wait for it and print its result; 1 when it failed."""
    if no_wait:
        print(task.task_id)
        return 0
    ended = client.tasks.wait(task.task_id, progress=sys.stderr.isatty(), raise_on_failure=False)
    if ended.status != "SUCCEEDED":
        print(f"omlsvc: task {ended.task_id} ended {ended.status}: {ended.message or ''}", file=sys.stderr)
        return 1
    output_json(ended.result)
    return 0


def _deploy(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        deployed = client.deployments.deploy(args.model_id, args.uri, score_timeout_s=args.score_timeout)
    print(f"deployed {deployed['modelId']} at /omlmod/v1/deployment/{deployed['uri']}")
    return 0


def _undeploy(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        client.deployments.undeploy(args.uri)
    print(f"undeployed {args.uri}")
    return 0


def _deployments_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    with connect(environ) as client:
        items = list(client.deployments.list())
    rows_out(
        items,
        [
            ("uri", lambda d: d["uri"]),
            ("model", lambda d: d["modelId"]),
            ("name", lambda d: d["modelName"]),
            ("version", lambda d: d["version"]),
            ("owner", lambda d: d["createdBy"]),
        ],
        as_json=args.json,
    )
    return 0


def _score(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from omlsvc.client import ClientError

    with connect(environ) as client:
        if args.image is not None:
            results = [client.score_image(args.uri, args.image, top_n=args.top_n)]
        else:
            try:
                body = json.loads(args.json.read_text())
            except ValueError as exc:
                raise ClientError(f"{args.json} is not valid JSON: {exc}") from None
            if not isinstance(body, dict) or not isinstance(body.get("inputRecords"), list):
                raise ClientError("The JSON file must hold an object with inputRecords.")
            top_n = args.top_n if args.top_n is not None else body.get("topN")
            results = client.score(args.uri, body["inputRecords"], top_n=top_n)
    output_json({"scoringResults": results})
    return 0
