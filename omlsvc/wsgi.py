"""``app`` for gunicorn: imported by each worker (``preload_app = False``), never by the master."""

from __future__ import annotations

import logging
import os

from omlsvc.app import create_app
from omlsvc.config import Settings

settings = Settings.from_env(os.environ)
logging.basicConfig(level=settings.log_level, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
app = create_app(settings)
