"""gunicorn settings for ``omlsvc serve`` (the repository's ``gunicorn.conf.py`` re-exports these).

Each worker gets a stable index in ``OMLSVC_WORKER_INDEX`` (the lowest free one, so a replaced
worker takes over its predecessor's GPU), which the scoring layer turns into a CUDA device id.
Nothing here creates sessions, engines or CUDA contexts: those are made in each worker after fork.

Each worker listens on its own ``SO_REUSEPORT`` socket, so the kernel spreads new connections evenly
over the workers. With one shared socket, whichever worker wakes first accepts a burst of keep-alive
connections and keeps them: in the bench, 16 client connections all landed on one of two workers,
which halved throughput. The access log line is built by :class:`omlsvc.accesslog.AccessLogger`.

Behind nginx (``omlsvc serve --front nginx``, or ``OMLSVC_UNIX_SOCKET`` for an nginx of your own)
gunicorn listens on one unix socket instead, bound by the master and shared by the workers:
``SO_REUSEPORT`` means nothing for unix sockets (each worker would unlink and rebind the path, and
only the last would be reached). nginx opens a new connection for every request it forwards, each
accepted by whichever worker is free, so the keep-alive pile-up above cannot happen there. The socket
is readable and writable by the service's user and group only.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from omlsvc.accesslog import ACCESS_LOG_FORMAT
from omlsvc.config import MAX_UNIX_SOCKET_PATH, WORKER_INDEX_ENV, Settings, SettingsError

try:
    _settings = Settings.from_env(os.environ)
except SettingsError as _error:
    sys.exit(f"omlsvc: {_error}")

if _settings.unix_socket is None:
    bind = [_settings.bind]
    reuse_port = True
else:
    bind = [f"unix:{_settings.unix_socket}"]
    reuse_port = False
    umask = 0o007
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
preload_app = False
timeout = _settings.request_timeout_s
graceful_timeout = _settings.graceful_timeout_s
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
access_log_format = ACCESS_LOG_FORMAT
logger_class = "omlsvc.accesslog.AccessLogger"
limit_request_line = 8190
# gunicorn's control socket, per instance: its default ($HOME/.gunicorn/gunicorn.ctl) is one path
# shared by every instance of the user on the host, each taking it from the last.
_control_socket = _settings.data_dir / "gunicorn.ctl"
if len(os.fsencode(str(_control_socket))) <= MAX_UNIX_SOCKET_PATH:
    control_socket = str(_control_socket)
else:
    control_socket_disable = True
#: gunicorn believes X-Forwarded-Proto (wsgi.url_scheme) from the same peers as omlsvc does: by default none.
forwarded_allow_ips = ",".join(str(network) for network in _settings.trusted_proxies)


def on_starting(server: Any) -> None:
    """Fail at once when the address is taken. With per-worker ``SO_REUSEPORT`` sockets the master
    binds nothing itself, and workers that cannot bind would be restarted for ever. The probe binds
    without ``SO_REUSEPORT``, so it also refuses a port another omlsvc serves already (which would
    otherwise share it silently)."""
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue
        host, port = address[0], address[1]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                sys.exit(f"omlsvc: cannot listen on {host}:{port}: {exc.strerror or exc}")


def pre_fork(server: Any, worker: Any) -> None:
    taken = {getattr(w, "omlsvc_index", None) for w in server.WORKERS.values()}
    worker.omlsvc_index = next(i for i in range(len(taken) + 1) if i not in taken)


def post_fork(server: Any, worker: Any) -> None:
    os.environ[WORKER_INDEX_ENV] = str(getattr(worker, "omlsvc_index", 0))
    os.environ.setdefault("OMLSVC_WORKER_COUNT", str(server.num_workers))
