"""Preloaded by the validation forkserver (``isolation``): makes it die with the worker that started it.

multiprocessing's forkserver is a fresh interpreter whose parent is the gunicorn worker; when the
worker is SIGKILLed nothing tells it, and it and its children would live on as orphans. Importing
this module inside the forkserver sets ``PR_SET_PDEATHSIG``; its children (the validation processes,
forked from it) inherit :data:`SERVER_PID` and set the same for themselves (``isolation.limit_child``).
Imported anywhere else, it does nothing.
"""

from __future__ import annotations

import multiprocessing.forkserver
import os
import sys


def _in_forkserver() -> bool:
    """Whether this import runs inside ``multiprocessing.forkserver.main`` (its preload step)."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is multiprocessing.forkserver.main.__code__:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


IN_FORKSERVER = _in_forkserver()
#: The forkserver's pid, as its children see it (they are forked after this import).
SERVER_PID = os.getpid() if IN_FORKSERVER else None

if IN_FORKSERVER:
    import signal

    from omlsvc.core.lifelines import die_with_parent

    die_with_parent()
    # Ctrl-C on ``omlsvc serve`` sends SIGINT to the whole process group: the forkserver and the
    # validation children it forks (which inherit this handler) must not answer it with a
    # KeyboardInterrupt traceback written as plain lines into the service's (JSON) log. Their worker
    # ends them: it shuts the pool down on exit, and they die with it (PR_SET_PDEATHSIG) if killed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
