"""Child processes that die with their parent, so killing a worker or the master leaves nothing behind.

Linux's ``PR_SET_PDEATHSIG`` asks the kernel to signal a process when its parent dies, whatever
killed the parent (SIGKILL included); elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int | None = None, signum: int = signal.SIGKILL) -> None:
    """Have ``signum`` sent to this process when its parent dies; exit now if it already has
    (``expected_parent`` is no longer the parent: it died before the request was made)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)
