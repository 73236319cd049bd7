"""``app`` for gunicorn: imported by each worker (``preload_app = False``), never by the master."""

from __future__ import annotations

import os

from omlsvc.config import WORKER_INDEX_ENV, Settings
from omlsvc.core.logs import configure_logging
from omlsvc.jobs.background import start_job_runner
from omlsvc.rest.app import create_app
from omlsvc.wiring import build_runner, build_services

settings = Settings.from_env(os.environ)
configure_logging(settings.log_level, settings.log_format)
services = build_services(settings, worker_index=int(os.environ.get(WORKER_INDEX_ENV, "0")))
app = create_app(settings, services=services)
start_job_runner(settings, lambda options: build_runner(services, options))  # when OMLSVC_JOB_RUNNER says so
