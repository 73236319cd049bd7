"""The one wiring module: builds the object graph a gunicorn worker, a test or the CLI works with.

Services are built here and nowhere else: ``build_services`` for a worker (sessions, GPU, the change
feed shared by every cache of the worker), :func:`build_admin_services` for the CLI's administration
commands, which need the database and no onnxruntime session or GPU detection.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import onnxruntime
from sqlalchemy import Engine

from omlsvc.auth.service import AuthService
from omlsvc.auth.tokens import TokenCodec
from omlsvc.config import Settings
from omlsvc.core.batching import service_default
from omlsvc.core.fetch import BytesFetcher, FetchLimits
from omlsvc.core.observe import UNOBSERVED, Observer
from omlsvc.core.urlsafety import AddressPolicy
from omlsvc.db.engine import make_engine
from omlsvc.db.health import HealthService
from omlsvc.db.transactions import Transactions
from omlsvc.db.watch import watch_database_errors
from omlsvc.deployment.service import DeploymentService
from omlsvc.deployment.source import DeployedModels
from omlsvc.jobs.grants import TableGrantService
from omlsvc.jobs.monitoring.properties import Limits
from omlsvc.jobs.options import RunnerOptions
from omlsvc.jobs.runner import Runner, default_runner_id
from omlsvc.jobs.service import JobService
from omlsvc.metrics import Metrics
from omlsvc.oip.service import InferenceService
from omlsvc.private_files import make_private_dir
from omlsvc.repository.archive import extract_package
from omlsvc.repository.isolation import IsolatedValidator
from omlsvc.repository.service import ModelService
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.image_urls import ImageUrls
from omlsvc.scoring.images import ImageOptions
from omlsvc.scoring.inputs import InputLimits
from omlsvc.scoring.scorer import RunLimits
from omlsvc.scoring.service import ScoringService
from omlsvc.scoring.session_options import choose_providers, detect_gpu_count, make_session_options
from omlsvc.scoring.sessions import SessionCache
from omlsvc.tasks.handlers import ChildLimits, TaskHandlers
from omlsvc.tasks.service import TaskService
from omlsvc.tasks.worker import TaskWorker


@dataclass(frozen=True)
class AdminServices:
    """The use cases that need the database and nothing else: what the CLI's administration commands
    (users, tables, models, deployments, jobs) work with, without onnxruntime sessions or a GPU."""

    settings: Settings
    engine: Engine
    transactions: Transactions
    auth: AuthService
    health: HealthService
    models: ModelService
    deployments: DeploymentService
    jobs: JobService
    table_grants: TableGrantService
    #: long operations: URL import, variants, profiles (issue 15)
    tasks: TaskService


@dataclass(frozen=True)
class Services(AdminServices):
    """Everything a resource may call; built once per worker by :func:`build_services`."""

    worker_index: int
    scoring: ScoringService
    #: the worker's Prometheus metrics, which every capability above reports to
    metrics: Metrics
    #: the Open Inference Protocol (/v2) over the same deployments and sessions (issue 14)
    inference: InferenceService


def build_admin_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], float] | None = None,
    observer: Observer = UNOBSERVED,
) -> AdminServices:
    """The light graph: one change feed for every service (a change made here reaches every cache
    here at once), no session cache, no GPU detection. ``observer`` hears refused logins."""
    make_private_dir(settings.data_dir)
    engine = engine or make_engine(settings.database_url)
    transactions = Transactions(engine)  # one feed per worker, shared by every service
    auth_args: dict[str, Any] = {"clock": clock} if clock else {}
    validator = IsolatedValidator(cpu_s=settings.validation_cpu_s, memory_bytes=settings.validation_memory)
    auth = AuthService(
        transactions, TokenCodec.from_settings(settings), settings, observer=observer, **auth_args
    )
    models = ModelService(transactions, settings, validate=validator)
    return AdminServices(
        settings=settings,
        engine=engine,
        transactions=transactions,
        auth=auth,
        health=HealthService(transactions),
        models=models,
        deployments=DeploymentService(transactions),
        jobs=JobService(transactions, auth, models, monitor_limits=monitor_limits(settings)),
        table_grants=TableGrantService(transactions, auth),
        tasks=TaskService(transactions, models, AddressPolicy(settings.import_allow)),
    )


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], float] | None = None,
    worker_index: int = 0,
    gpu_count: int | None = None,
) -> Services:
    """Everything one worker needs. ``worker_index`` (gunicorn's, see ``gunicorn_conf``) picks the
    GPU; ``gpu_count`` defaults to what the machine has. Every graph owns its :class:`Metrics`
    (under gunicorn, the workers' values meet in ``PROMETHEUS_MULTIPROC_DIR``)."""
    metrics = Metrics()
    admin = build_admin_services(settings, engine=engine, clock=clock, observer=metrics)
    watch_database(admin.engine, metrics)  # issue 18: connections in use, database errors
    # loads pin a model's files beside the upload scratch space, outside the cache an operator may clear
    unpack = functools.partial(extract_package, limits=admin.models.archive_limits)
    files = ModelFiles(settings.cache_dir, admin.models.scratch_dir, unpack)
    gpus = detect_gpu_count() if gpu_count is None else gpu_count
    scoring = ScoringService(
        DeployedModels(admin.deployments, admin.models),
        files,
        _session_cache(settings, worker_index, gpus, metrics),
        metrics,
        batching=service_default(settings.batch_max_size, settings.batch_max_delay_ms),
        request_threads=settings.threads,
    )
    # another worker's change (a swapped model, a new canary): load what the URIs served here now serve
    admin.transactions.changes.on_change(scoring.refresh_served)
    fields = {f.name: getattr(admin, f.name) for f in dataclasses.fields(AdminServices)}
    inference = InferenceService(
        scoring,
        admin.deployments,
        admin.models,
        metrics.scoring_totals,
        max_rows=settings.max_score_rows,
        max_response_bytes=settings.max_response_bytes,
    )
    return Services(
        **fields, worker_index=worker_index, scoring=scoring, metrics=metrics, inference=inference
    )


def watch_database(engine: Engine, metrics: Metrics) -> None:
    """Report ``engine``'s connections in use and its errors to ``metrics``."""
    pool = engine.pool
    checked_out = getattr(pool, "checkedout", None)  # QueuePool and its kin; 0 for pools without a count
    metrics.watch_pool((lambda: int(checked_out())) if callable(checked_out) else (lambda: 0))
    watch_database_errors(engine, metrics)


def _session_cache(settings: Settings, worker_index: int, gpu_count: int, observer: Observer) -> SessionCache:
    """The worker's LRU of onnxruntime sessions, on its GPU when onnxruntime offers CUDA (scoring
    passes each build the model's files)."""
    threads = settings.intra_op_threads or None
    return SessionCache(
        settings.session_cache_size,
        None,
        lambda: make_session_options(threads, workers=settings.workers),
        choose_providers(onnxruntime.get_available_providers(), worker_index, gpu_count),
        limits=InputLimits(max_rows=settings.max_score_rows),
        image_options=ImageOptions(
            max_pixels=settings.max_image_pixels,
            max_target_pixels=settings.max_image_target_pixels,
            max_request_pixels=settings.max_request_pixels,
            urls=image_urls(settings),
        ),
        warm_up=settings.warm_up,
        observer=observer,
        run_limits=RunLimits(
            timeout_s=settings.score_timeout_s,
            memory_bytes=settings.scoring_memory_limit,
            max_response_bytes=settings.max_response_bytes,
        ),
    )


def image_urls(settings: Settings) -> ImageUrls:
    """Issue 16: score records may name their image by ``imageUrl``, fetched under the URL import's
    address policy (``OMLSVC_IMPORT_ALLOW``), each at most as large as a request body may be, all of
    one request within ``OMLSVC_IMAGE_URL_TIMEOUT``; ``OMLSVC_MAX_IMAGE_URLS=0`` turns it off."""
    if settings.max_image_urls == 0:
        return ImageUrls(fetch=None, max_urls=0)
    fetcher = BytesFetcher(
        AddressPolicy(settings.import_allow),
        FetchLimits(
            max_bytes=settings.max_request_bytes,
            connect_timeout_s=settings.image_url_connect_timeout_s,
            read_timeout_s=settings.image_url_timeout_s,
            total_timeout_s=settings.image_url_timeout_s,
        ),
    )
    return ImageUrls(fetcher, settings.max_image_urls, settings.image_url_timeout_s)


def monitor_limits(settings: Settings) -> Limits:
    """What one monitoring job may name (``OMLSVC_MONITOR_MAX_FEATURES``, ``OMLSVC_MONITOR_MAX_MODELS``)."""
    return Limits(max_features=settings.monitor_max_features, max_models=settings.monitor_max_models)


def build_runner(services: Services, options: RunnerOptions | None = None, **kwargs: Any) -> Runner:
    """The batch scoring runner over a worker's services (the thread of ``omlsvc serve``, ``omlsvc jobs
    worker``, tests): it reaches users, models and scoring through their services. ``kwargs``: the
    runner's ``clock`` and ``runner_id``. The runner also takes tasks (issue 15), under the same id
    and lease."""
    runner_id = kwargs.pop("runner_id", None) or default_runner_id()
    tasks = build_task_worker(services, runner_id, options, clock=kwargs.get("clock"))
    return Runner(
        services.transactions,
        services.scoring,
        services.auth,
        services.models,
        options,
        observer=services.metrics,
        monitor_limits=monitor_limits(services.settings),
        runner_id=runner_id,
        steps=(tasks.work_once,),
        **kwargs,
    )


def build_task_worker(
    services: AdminServices, runner_id: str, options: RunnerOptions | None = None, *, clock: Any = None
) -> TaskWorker:
    """The task step of a runner: imports, variants and profiles over the services (issue 15)."""
    settings = services.settings
    handlers = TaskHandlers(
        services.models,
        services.auth,
        AddressPolicy(settings.import_allow),
        FetchLimits(
            max_bytes=settings.max_upload_bytes,
            connect_timeout_s=settings.import_connect_timeout_s,
            read_timeout_s=settings.import_read_timeout_s,
            total_timeout_s=settings.import_total_timeout_s,
        ),
        ChildLimits(
            cpu_s=max(settings.validation_cpu_s, 3600),
            timeout_s=3600.0,
            memory_bytes=settings.validation_memory,
            threads=settings.intra_op_threads,
        ),
    )
    lease_s = (options or RunnerOptions()).lease_s
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return TaskWorker(services.transactions, handlers.as_mapping(), runner_id, lease_s=lease_s, **extra)
