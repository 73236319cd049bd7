"""Files and folders only the service's own account may read, whatever the umask.

The data directory holds the model cache and upload scratch space (private models), the generated
token secret, and by default the SQLite database with its password hashes. Under the usual umask
022 each of those would be created readable by every account on the host.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700 (missing parents as ``mkdir -p`` makes them).

    A directory that already exists is left as it is: an administrator who prepared it chose its
    owner and mode.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return path
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered through the umask
    return path


def make_private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600, or take group and other access away from the file there.

    An existing file is narrowed only when this account owns it; a database file left readable by an
    older omlsvc becomes private on the next start.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        _narrow(path)
        return path
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
    finally:
        os.close(descriptor)
    return path


def _narrow(path: Path) -> None:
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
