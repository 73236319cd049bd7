"""The route table of the OML REST app: every path and the resource that answers it, over the services
:mod:`omlsvc.wiring` builds. :func:`omlsvc.rest.app.create_app` calls :func:`add_routes` once.
"""

from __future__ import annotations

import falcon

from omlsvc.auth.accounts import UserAdministration
from omlsvc.config import Settings
from omlsvc.rest.console import ASSETS, CONSOLE, ConsoleAsset, ConsolePage, Root
from omlsvc.rest.deployments import (
    Deployment,
    DeploymentApi,
    DeploymentCollection,
    DeploymentHistory,
    DeploymentRollback,
)
from omlsvc.rest.jobs import Job, JobAction, JobCheck, JobCollection, JobRuns
from omlsvc.rest.meta import Liveness, Readiness, ServiceApi, Version, VersionCollection
from omlsvc.rest.metrics import MetricsScrape
from omlsvc.rest.models import (
    Model,
    ModelCollection,
    ModelContent,
    ModelGrant,
    ModelGrants,
    ModelMetadata,
)
from omlsvc.rest.oip import add_oip_routes
from omlsvc.rest.scoring import Score, Tensors
from omlsvc.rest.tasks import ModelProfile, ModelProfiles, ModelVariants, Task
from omlsvc.rest.tokens import TenantToken, TenantTokenRevocation, Token, TokenRevocation
from omlsvc.rest.users import USERS, UserAccount, UserCollection
from omlsvc.wiring import Services


def add_routes(app: falcon.App, settings: Settings, services: Services) -> None:
    """Every route of the service, in one order: tokens, versions and models, deployments, jobs and
    tasks, health and metrics, the web console and user accounts, the Open Inference Protocol."""
    _add_token_routes(app, services)
    _add_model_routes(app, services)
    _add_deployment_routes(app, settings, services)
    _add_job_and_task_routes(app, services)
    _add_operations_routes(app, settings, services)
    _add_console_routes(app, services)
    # the Open Inference Protocol (KServe v2) on the same workers, tokens and sessions (issue 14)
    prepare = services.scoring.prepare_deployed
    add_oip_routes(app, services.inference, services.health, prepare, settings.max_request_bytes)


def _add_token_routes(app: falcon.App, services: Services) -> None:
    """The token service, under Oracle's current path and the 2021 tenant form."""
    app.add_route("/omlusers/api/oauth2/v1/token", Token(services.auth))
    app.add_route("/omlusers/api/oauth2/v1/token/revoke", TokenRevocation(services.auth))
    tenant = "/omlusers/tenants/{tenant}/databases/{database}/api/oauth2/v1"  # issue 17: the 2021 form
    app.add_route(f"{tenant}/token", TenantToken(services.auth))
    app.add_route(f"{tenant}/token/revoke", TenantTokenRevocation(services.auth))


def _add_model_routes(app: falcon.App, services: Services) -> None:
    """The API versions, the service document, and the model repository."""
    app.add_route("/omlmod/", VersionCollection())
    app.add_route("/omlmod/v1", Version())
    app.add_route("/omlmod/v1/api", ServiceApi())
    app.add_route("/omlmod/v1/models", ModelCollection(services.models, services.tasks))
    app.add_route("/omlmod/v1/models/{model_id}", Model(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/metadata", ModelMetadata(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/content", ModelContent(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/grants", ModelGrants(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/grants/{username}", ModelGrant(services.models))


def _add_deployment_routes(app: falcon.App, settings: Settings, services: Services) -> None:
    """Deployments, their documents, history and rollback, scoring and graph tensors."""
    prepare = services.scoring.prepare_deployed
    app.add_route("/omlmod/v1/deployment", DeploymentCollection(services.deployments, prepare))
    app.add_route("/omlmod/v1/deployment/{uri}", Deployment(services.deployments, prepare))
    app.add_route(
        "/omlmod/v1/deployment/{uri}/api", DeploymentApi(services.deployments, services.scoring.graph_tensors)
    )
    app.add_route("/omlmod/v1/deployment/{uri}/history", DeploymentHistory(services.deployments))
    app.add_route("/omlmod/v1/deployment/{uri}/rollback", DeploymentRollback(services.deployments, prepare))
    app.add_route(
        "/omlmod/v1/deployment/{uri}/score",
        Score(services.scoring, settings.max_request_bytes, settings.max_response_bytes),
    )
    # issue 16: the tensors of a deployed model's graph, by name
    app.add_route("/omlmod/v1/deployment/{uri}/tensors", Tensors(services.scoring))


def _add_job_and_task_routes(app: falcon.App, services: Services) -> None:
    """Batch and monitoring jobs, and the tasks of issue 15."""
    app.add_route("/omlmod/v1/jobs", JobCollection(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}", Job(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}/action", JobAction(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}/runs", JobRuns(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}/check", JobCheck(services.jobs))
    # -- tasks: import, variants, profiles (issue 15) --
    app.add_route("/omlmod/v1/tasks/{taskId}", Task(services.tasks))
    app.add_route("/omlmod/v1/models/{model_id}/variants", ModelVariants(services.tasks))
    app.add_route("/omlmod/v1/models/{model_id}/profile", ModelProfile(services.tasks))
    app.add_route("/omlmod/v1/models/{model_id}/profiles", ModelProfiles(services.tasks))


def _add_operations_routes(app: falcon.App, settings: Settings, services: Services) -> None:
    """Health probes and the Prometheus scrape."""
    app.add_route("/health/live", Liveness())
    app.add_route("/health/ready", Readiness(services.health))
    app.add_route(
        "/metrics",
        MetricsScrape(services.metrics, services.auth, services.deployments, settings.metrics_token),
    )


def _add_console_routes(app: falcon.App, services: Services) -> None:
    """The web console and its user administration (issue 19)."""
    # the web console (issue 19): public static files; every call it makes is an API call with a token
    app.add_route("/", Root())
    app.add_route(CONSOLE, ConsolePage())
    app.add_route(ASSETS + "/{name}", ConsoleAsset())
    # user accounts for admins (issue 19): the same auth service calls as ``omlsvc users``
    accounts = UserAdministration(services.auth)
    app.add_route(USERS, UserCollection(accounts))
    app.add_route(USERS + "/{username}", UserAccount(accounts))
