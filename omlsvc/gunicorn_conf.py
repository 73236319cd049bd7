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

A worker whose resident memory is above ``OMLSVC_MAX_WORKER_MEMORY`` after a request is recycled:
it stops taking connections, finishes what it holds and exits, and gunicorn starts a fresh one
(:func:`post_request`). With per-worker sockets two things could lose requests that had not started,
and both are avoided: connections already queued on the worker's own socket would be reset when it
closes, so the worker accepts every one of them before closing it (and takes them through like any
other); and a host whose every worker recycles at once would refuse connections, so a worker only
leaves while another socket listens on its port, deciding under a lock its siblings share. A lone
worker (``OMLSVC_WORKERS=1``) has no sibling to wait for: while it is replaced, connections are
refused (nginx in front retries them).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import resource
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from omlsvc.accesslog import ACCESS_LOG_FORMAT
from omlsvc.config import WORKER_INDEX_ENV, Settings, SettingsError
from omlsvc.config_parsers import MAX_UNIX_SOCKET_PATH

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

#: Resident bytes above which a worker is recycled after its current request.
MAX_WORKER_MEMORY = _settings.worker_memory_ceiling
#: Siblings decide one at a time whether they may leave (see the module docstring).
RECYCLE_LOCK = _settings.data_dir / "recycle.lock"
_TCP_LISTEN = "0A"
log = logging.getLogger("omlsvc.recycle")


def on_starting(server: Any) -> None:
    """Fail at once when the address is taken. With per-worker ``SO_REUSEPORT`` sockets the master
    binds nothing itself, and workers that cannot bind would be restarted for ever. The probe binds
    without ``SO_REUSEPORT``, so it also refuses a port another omlsvc serves already (which would
    otherwise share it silently). Then empties the workers' metrics directory (:func:`prepare_metrics_dir`)."""
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
    prepare_metrics_dir()


#: Where the workers share their metric values (``prometheus_client``'s multiprocess mode): the
#: operator's ``PROMETHEUS_MULTIPROC_DIR``, else ``metrics/`` under the data directory.
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR = Path(os.environ.get(METRICS_ENV) or _settings.data_dir / "metrics")


def prepare_metrics_dir(directory: Path = METRICS_DIR) -> None:
    """Empty ``directory`` of a previous run's values (they would be added to this run's) and name it
    in the environment the workers inherit. Runs in the master before any worker and before anything
    imports ``prometheus_client``, which reads the variable once, at import."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[METRICS_ENV] = str(directory)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges (its counters stay, they still count)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(METRICS_DIR))


def pre_fork(server: Any, worker: Any) -> None:
    taken = {getattr(w, "omlsvc_index", None) for w in server.WORKERS.values()}
    worker.omlsvc_index = next(i for i in range(len(taken) + 1) if i not in taken)


def post_fork(server: Any, worker: Any) -> None:
    os.environ[WORKER_INDEX_ENV] = str(getattr(worker, "omlsvc_index", 0))
    os.environ.setdefault("OMLSVC_WORKER_COUNT", str(server.num_workers))


def post_worker_init(worker: Any) -> None:
    quit_once(worker)


def quit_once(worker: Any) -> None:
    """Let only the first SIGINT or SIGQUIT run the worker's quit handler; later ones are ignored.

    Ctrl-C on ``omlsvc serve`` sends SIGINT to the whole process group, and the master, handling
    its own SIGINT, then sends SIGQUIT to each worker: two quit signals, often within milliseconds.
    gthread's handler shuts its thread pool down under a lock that is not re-entrant. When the second
    signal arrives while the first handler holds that lock, the second handler waits on it for
    ever, in the main thread, which is the one that would release it. The worker then hangs until the
    master SIGKILLs it after the graceful timeout, and the multiprocessing resource tracker prints its
    plain-text warning about leaked semaphores into the log. The first handler ends the worker anyway."""
    handle = worker.handle_quit
    first = threading.Lock()

    def handle_quit_once(sig: int, frame: Any) -> None:
        if first.acquire(blocking=False):  # atomic: a signal arriving in between sees it taken
            handle(sig, frame)

    signal.signal(signal.SIGQUIT, handle_quit_once)
    signal.signal(signal.SIGINT, handle_quit_once)


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """Recycle this worker once its resident memory is above ``MAX_WORKER_MEMORY``."""
    # the peak (no file read) is at least the current size: most requests stop here
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 <= MAX_WORKER_MEMORY:
        return
    if not worker.alive or getattr(worker, "omlsvc_recycling", False):
        return
    rss = resident_bytes()
    if rss > MAX_WORKER_MEMORY:
        recycle(worker, rss)


def resident_bytes() -> int:
    """This process's resident memory now (``/proc/self/statm``)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def recycle(worker: Any, rss: int) -> None:
    """Have ``worker`` leave gracefully without losing a connection that has not been served.

    Without gthread's main-loop queue (another worker class), fall back to ``alive = False``.
    """
    queue = getattr(worker, "method_queue", None)
    ports = {s.getsockname()[1] for s in worker.sockets if s.family in (socket.AF_INET, socket.AF_INET6)}
    if queue is None or not ports:
        worker.omlsvc_recycling = True
        worker.alive = False
        return
    RECYCLE_LOCK.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(RECYCLE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock)  # a sibling is leaving right now: try again after the next request
        return
    if worker.cfg.workers > 1 and min(listening_sockets(port) for port in ports) < 2:
        os.close(lock)  # the last listener of its port stays until a sibling is back
        return
    worker.omlsvc_recycling = True
    log.warning(
        "worker %s uses %d MiB, over OMLSVC_MAX_WORKER_MEMORY (%d MiB): recycling it",
        os.getpid(),
        rss >> 20,
        MAX_WORKER_MEMORY >> 20,
    )
    queue.defer(_leave, worker, lock)


def _leave(worker: Any, lock: int) -> None:
    """On the worker's main loop: take every queued connection, close the sockets, stop the loop.

    This runs as one callback of a turn of gthread's loop, and the same turn may still hold a
    readiness event of a listener, dispatched after it to ``accept``. A closed gunicorn socket has
    no socket left, so that ``accept`` raised and ended the worker with every connection it had
    taken: their clients saw resets. Each closed listener therefore keeps a stand-in
    (:class:`_ClosedListener`) on which such a late ``accept`` finds nothing.
    """
    try:
        worker.set_accept_enabled(False)
        for listener in worker.sockets:
            while True:  # gthread's accept() hands the connection to a thread, or does nothing (EAGAIN)
                before = worker.nr_conns
                worker.accept(listener)
                if worker.nr_conns == before:
                    break
            listener.close()
            listener.sock = _ClosedListener()
    finally:
        worker.alive = False
        os.close(lock)  # the socket is closed: a sibling now counts one listener fewer


class _ClosedListener:
    """What a gunicorn listening socket holds once :func:`_leave` has closed it."""

    def accept(self) -> tuple[socket.socket, Any]:
        raise BlockingIOError(errno.EAGAIN, "this worker has closed its listening socket")

    def close(self) -> None:
        """Already closed (gunicorn closes every socket again when the worker ends)."""


def listening_sockets(port: int) -> int:
    """TCP sockets listening on ``port`` in this network namespace (``/proc/net/tcp`` and ``tcp6``)."""
    suffix = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _TCP_LISTEN and fields[1].endswith(suffix):
                count += 1
    return count
