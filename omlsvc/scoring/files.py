"""The host's disk cache of stored models, and the private copies sessions are built from.

Sessions are built from a path, not from bytes: onnxruntime resolves external-data files relative
to the model's folder. Each model's zip is fetched from the database once per host (any worker may
do it; the others then find it), checked against its sha256, unpacked, and published in the cache
as a folder named after that digest, with a manifest of its files, by an atomic rename.

An operator may remove the cache folder at any time, also in the middle of a load. So a session is
never built from the cache itself: every load first *pins* the model's files in a private folder
of its own outside the cache (hard links to the cached files, which cost no copy and keep the data
whatever happens to the cache's names; a plain copy across file systems). A pin that cannot be
completed (the cache vanished while it was made) is thrown away and the model is fetched again,
straight into the pin, then published for the other workers; publishing may fail, the load does
not depend on it. The files a session is built from therefore cannot vanish while it is built.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from omlsvc.core.errors import ScoringFailed

#: Lists a cached model's files, one relative path a line, the ``.onnx`` first.
MANIFEST = "manifest"
#: Unpacks a model's zip (first argument) into a new folder (second); returns the ``.onnx`` path.
Unpack = Callable[[Path, Path], Path]
#: Opens a model's stored bytes, chunk by chunk.
Fetch = Callable[[], Iterable[bytes]]


class ModelFiles:
    """``cache_dir`` holds the shared cache; ``pin_dir`` (outside it) the private copies of loads."""

    def __init__(self, cache_dir: Path, pin_dir: Path, unpack: Unpack) -> None:
        self._root = cache_dir / "models"
        self._pins = pin_dir
        self._unpack = unpack

    @contextlib.contextmanager
    def pinned(self, sha256: str, fetch: Fetch) -> Iterator[Path]:
        """The model's ``.onnx`` in a private folder that lasts until the block ends, taken from the
        cache, else fetched (from ``fetch``), verified, unpacked and published for the others."""
        self._pins.mkdir(parents=True, exist_ok=True)
        pin = Path(tempfile.mkdtemp(prefix=f"load-{sha256[:12]}-", dir=self._pins))
        try:
            onnx_path = self._pin_cached(sha256, pin)
            if onnx_path is None:
                onnx_path = self._fetch(sha256, fetch, pin)
                self._publish(sha256, pin)
            yield onnx_path
        finally:
            shutil.rmtree(pin, ignore_errors=True)

    def cached(self, sha256: str) -> bool:
        """Whether the cache holds a complete copy of the model now."""
        return (self._root / sha256 / MANIFEST).is_file()

    def _pin_cached(self, sha256: str, pin: Path) -> Path | None:
        """Link every file the cached copy's manifest lists into ``pin``; None when the cache does not
        hold it completely (never cached, or removed before every file was linked)."""
        folder = self._root / sha256
        try:
            names = (folder / MANIFEST).read_text().splitlines()
            for name in names:
                (pin / name).parent.mkdir(parents=True, exist_ok=True)
                _link(folder / name, pin / name)
        except FileNotFoundError:
            _empty(pin)
            return None
        return pin / names[0]

    def _fetch(self, sha256: str, fetch: Fetch, pin: Path) -> Path:
        archive = pin / "model.zip"
        digest = hashlib.sha256()
        with archive.open("wb") as handle:
            for chunk in fetch():
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != sha256:
            raise ScoringFailed("The stored model is incomplete or changed while it was read; try again.")
        onnx_path = self._unpack(archive, pin / "model")
        archive.unlink()
        others = sorted(
            str(path.relative_to(pin))
            for path in (pin / "model").rglob("*")
            if path.is_file() and path != onnx_path
        )
        (pin / MANIFEST).write_text("\n".join([str(onnx_path.relative_to(pin)), *others]) + "\n")
        return onnx_path

    def _publish(self, sha256: str, pin: Path) -> None:
        """Offer a fetched model to the other workers of the host: link it into a staging folder of
        the cache and rename that into place. Best effort: the cache may be removed meanwhile, or
        another worker may have published the same model first (theirs is identical)."""
        staging: Path | None = None
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=self._root))
            names = (pin / MANIFEST).read_text().splitlines()
            for name in names:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                _link(pin / name, staging / name)
            _link(pin / MANIFEST, staging / MANIFEST)  # last: a manifest promises every file is there
            self._rename_into_place(staging, self._root / sha256)
        except OSError:
            pass
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def _rename_into_place(self, staging: Path, target: Path) -> None:
        try:
            staging.rename(target)
        except OSError:
            if (target / MANIFEST).is_file():
                return  # another worker published it first
            # a folder without a manifest is left by an older omlsvc: set it aside, then take its place
            aside = Path(tempfile.mkdtemp(prefix=".stale-", dir=self._root))
            try:
                target.rename(aside / "old")
                staging.rename(target)
            finally:
                shutil.rmtree(aside, ignore_errors=True)


def _link(source: Path, target: Path) -> None:
    """A hard link, or a copy where the two folders are on different file systems."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(source, target)


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
