"""``omlsvc local deploy``, ``local undeploy`` and ``local deployments list``: models under URIs, on
this machine's database (the remote commands are in :mod:`omlsvc.cli.remote_models`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from omlsvc.cli.context import SubParsers, act_as, add_user_option, admin_services

if TYPE_CHECKING:
    from omlsvc.config import Settings


def add_deployment_commands(commands: SubParsers) -> None:
    deploy = commands.add_parser("deploy", help="deploy a model under a URI")
    deploy.add_argument("model_id")
    deploy.add_argument("uri")
    deploy.set_defaults(handler=_deploy)
    undeploy = commands.add_parser("undeploy", help="remove a deployment")
    undeploy.add_argument("uri")
    undeploy.set_defaults(handler=_undeploy)
    deployments = commands.add_parser("deployments", help="deployments").add_subparsers(metavar="ACTION")
    deployments.add_parser("list", help="list deployments").set_defaults(handler=_deployments_list)
    add_user_option(deploy, undeploy)


def _deploy(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        record = services.deployments.deploy(act_as(services, args.user), args.model_id, args.uri)
    print(f"deployed {record.model.id} at /omlmod/v1/deployment/{record.uri}")
    return 0


def _undeploy(args: argparse.Namespace, settings: Settings) -> int:
    with admin_services(settings) as services:
        services.deployments.undeploy(act_as(services, args.user), args.uri)
    print(f"undeployed {args.uri}")
    return 0


def _deployments_list(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.core.authorization import Principal
    from omlsvc.repository.rows import ModelFilter

    with admin_services(settings) as services:
        records, _ = services.deployments.list_deployments(Principal("admin", ("admin",)), ModelFilter())
    for r in records:
        print(f"{r.uri}\t{r.model.id}\t{r.model.name}\t{r.model.version}\t{r.model.owner}")
    return 0
