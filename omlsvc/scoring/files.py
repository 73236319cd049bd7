"""The worker-local disk cache of stored models, from which sessions are built.

Sessions are built from a path, not from bytes: onnxruntime resolves external-data files relative
to the model's folder. Each model's zip is fetched from the database once per host (any worker may
do it; the others then find it), checked against its sha256 and extracted into a private folder
named after that digest, published by an atomic rename. If the cache directory vanishes while
serving, the next load simply fetches again.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from omlsvc.core.errors import InvalidModel, ScoringFailed
from omlsvc.repository.archive import ArchiveLimits, extract_package

MARKER = "model-path"


class ModelFiles:
    def __init__(self, cache_dir: Path, limits: ArchiveLimits) -> None:
        self._root = cache_dir / "models"
        self._limits = limits

    def path(self, sha256: str) -> Path:
        """The extracted ``.onnx`` of a cached model; FileNotFoundError when it is not cached."""
        folder = self._root / sha256
        return folder / (folder / MARKER).read_text().strip()

    def ensure(self, sha256: str, chunks: Iterable[bytes]) -> Path:
        """Fetch (from ``chunks``), verify and extract a model unless it is already cached."""
        try:
            return self.path(sha256)
        except FileNotFoundError:
            pass
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=self._root))
        except (FileExistsError, FileNotFoundError) as exc:  # the cache folder is being removed right now
            raise FileNotFoundError(f"the model cache was removed while {sha256[:12]} was fetched") from exc
        try:
            archive = staging / "model.zip"
            digest = hashlib.sha256()
            with archive.open("wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    handle.write(chunk)
            if digest.hexdigest() != sha256:
                raise ScoringFailed("The stored model is incomplete or changed while it was read; try again.")
            onnx_path = extract_package(archive, staging / "model", self._limits)
            archive.unlink()
            (staging / MARKER).write_text(str(onnx_path.relative_to(staging)))
            with contextlib.suppress(OSError):  # another worker published it first: theirs is identical
                staging.rename(self._root / sha256)
        except (OSError, InvalidModel) as exc:
            if staging.exists():
                raise
            # the cache folder was removed meanwhile: not the model's fault, the caller fetches again
            raise FileNotFoundError(f"the model cache was removed while {sha256[:12]} was fetched") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.path(sha256)
