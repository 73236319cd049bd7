"""``app`` for gunicorn: imported by each worker (``preload_app = False``), never by the master."""

from __future__ import annotations

import logging
import os

from omlsvc.app import build_services, create_app
from omlsvc.config import WORKER_INDEX_ENV, Settings

settings = Settings.from_env(os.environ)
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
)
app = create_app(
    settings, services=build_services(settings, worker_index=int(os.environ.get(WORKER_INDEX_ENV, "0")))
)
