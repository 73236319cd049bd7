"""``omlsvc serve --front nginx``: nginx on ``OMLSVC_BIND`` in front of gunicorn on a unix socket.

Both run as children of this process and live and die together: SIGTERM, SIGINT or SIGHUP stops
nginx gracefully (it finishes the requests it holds) and then gunicorn; if either exits on its own,
the other is stopped and this process exits with status 1 (so a supervisor restarts the pair).
Both children get SIGTERM from the kernel should this process die without stopping them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TextIO

from omlsvc.config import Settings
from omlsvc.core.errors import Unavailable
from omlsvc.core.lifelines import die_with_parent
from omlsvc.front.nginx import FrontFiles, find_nginx, nginx_command, write_front_files

#: Variables the gunicorn child is given: where to listen, and which peer may set X-Forwarded-*.
UNIX_SOCKET_ENV = "OMLSVC_UNIX_SOCKET"
TRUSTED_PROXIES_ENV = "OMLSVC_TRUSTED_PROXIES"
#: nginx reaches gunicorn over the unix socket; loopback covers a front on the same host over TCP.
LOCAL_PROXIES = "127.0.0.1/32,::1/128"
_POLL_S = 0.2
_SOCKET_WAIT_S = 60.0
_KILL_GRACE_S = 5.0


class NginxFront:
    """The checked and written nginx set-up, ready to start with gunicorn (:meth:`run`)."""

    def __init__(self, settings: Settings, nginx: Path, files: FrontFiles) -> None:
        self._settings = settings
        self._nginx = nginx
        self.files = files

    @classmethod
    def prepare(cls, settings: Settings) -> NginxFront:
        """Find nginx, check that ``OMLSVC_BIND`` is free, write the configuration: each failure is
        one line (:class:`Unavailable`), before anything is started."""
        nginx = find_nginx(settings.nginx, os.environ)
        _probe_bind(settings.bind)
        return cls(settings, nginx, write_front_files(settings))

    def run(self, err: TextIO = sys.stderr) -> int:
        stopping: list[int] = []

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, request_stop)
        if self.files.socket.is_socket():
            self.files.socket.unlink()
        gunicorn = _start(
            [sys.executable, "-m", "gunicorn", "-c", "python:omlsvc.gunicorn_conf", "omlsvc.wsgi:app"],
            {**os.environ, UNIX_SOCKET_ENV: str(self.files.socket), TRUSTED_PROXIES_ENV: LOCAL_PROXIES},
        )
        children: dict[str, subprocess.Popen[bytes]] = {"gunicorn": gunicorn}
        reason = ""
        try:
            # gunicorn's master binds the socket before it forks workers; connections queue until
            # a worker accepts them, so nginx never answers 502 for a gunicorn that is starting.
            if _wait_for(self.files.socket.is_socket, [gunicorn], stopping, _SOCKET_WAIT_S):
                children["nginx"] = _start(
                    nginx_command(self._nginx, self.files.prefix), dict(os.environ), own_group=True
                )
                _wait_for(lambda: False, list(children.values()), stopping, None)
            elif not stopping and gunicorn.poll() is None:
                reason = f"gunicorn did not listen on {self.files.socket} within {_SOCKET_WAIT_S:.0f} s"
            if not stopping and not reason:
                reason = "; ".join(
                    _how_it_ended(name, child.returncode)
                    for name, child in children.items()
                    if child.returncode is not None
                )
        finally:
            _stop(children, self._settings.graceful_timeout_s)
        if stopping:
            return 0
        print(f"omlsvc: {reason}; stopped the rest", file=err)
        return 1


def _start(command: list[str], env: dict[str, str], *, own_group: bool = False) -> subprocess.Popen[bytes]:
    """A child that gets SIGTERM when this process dies. nginx leads its own process group: its
    workers outlive a killed master, and the group is how they are found and stopped."""
    parent = os.getpid()
    return subprocess.Popen(
        command,
        env=env,
        preexec_fn=lambda: die_with_parent(parent, signal.SIGTERM),  # safe: this process runs no threads
        process_group=0 if own_group else None,
    )


def _how_it_ended(name: str, returncode: int) -> str:
    if returncode < 0:
        return f"{name} was killed by {signal.Signals(-returncode).name}"
    return f"{name} exited with status {returncode}"


def _wait_for(
    ready: Callable[[], bool],
    children: list[subprocess.Popen[bytes]],
    stopping: list[int],
    timeout_s: float | None,
) -> bool:
    """Poll until ``ready()``; False when a stop is asked, a child exits or the time is up."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not stopping and all(child.poll() is None for child in children):
        if ready():
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return False


def _stop(children: dict[str, subprocess.Popen[bytes]], graceful_timeout_s: int) -> None:
    """nginx first (SIGQUIT: it stops accepting and finishes what it holds), then gunicorn (SIGTERM)."""
    for name, graceful_signal in (("nginx", signal.SIGQUIT), ("gunicorn", signal.SIGTERM)):
        child = children.get(name)
        if child is None:
            continue
        if child.poll() is None:
            child.send_signal(graceful_signal)
            try:
                child.wait(timeout=graceful_timeout_s + _KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if name == "nginx":  # workers left behind by a master that was killed
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)


def _probe_bind(bind: str) -> None:
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise Unavailable(f"cannot listen on {bind}: {exc.strerror or exc}") from None
