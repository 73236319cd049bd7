"""The per-worker session cache (ARCHITECTURE "Per-worker sessions"): sessions built once per model
and kept in a bounded LRU.

Nothing here touches CUDA or creates a session at import time, nor when a :class:`SessionCache` is
constructed: sessions do not survive a fork, so they are built lazily, in the worker that uses them.

How its sessions are configured (providers, options, the bounded CPU arena that limits their memory)
is :mod:`omlsvc.scoring.session_options`; the cache builds its sessions with them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from omlsvc.core.errors import ScoringFailed, ScoringTimeout, Unavailable
from omlsvc.core.observe import UNOBSERVED, Observer
from omlsvc.core.signature import ScoringSpec
from omlsvc.scoring.images import ImageOptions, load_mean_file
from omlsvc.scoring.inputs import InputLimits
from omlsvc.scoring.scorer import PreparedModel, RunLimits, scoring_failed
from omlsvc.scoring.session_options import Provider, make_run_options, use_bounded_cpu_allocator
from omlsvc.scoring.tensors import write_extended_model
from omlsvc.scoring.watchdog import RunWatchdog

logger = logging.getLogger(__name__)

DEFAULT_CACHE_CAPACITY = 16
#: Sessions over extended graphs (``outputTensors`` sets, a cut) kept per model, beside its plain one.
MAX_VARIANTS_PER_MODEL = 4
#: Opens the files of one model for the time its session is built; yields the ``.onnx`` path.
OpenFiles = Callable[[], AbstractContextManager[Path]]


@dataclass(frozen=True)
class LoadedModel:
    """A cached model: its onnxruntime session and the :class:`PreparedModel` that scores with it."""

    sha256: str
    session: ort.InferenceSession
    model: PreparedModel
    #: the providers the session actually uses, best first (CUDA may have fallen back to CPU).
    providers: tuple[str, ...]


class SessionCache:
    """A worker's bounded LRU of loaded models, keyed by the model zip's sha256 (and, for sessions over
    a graph with added outputs, by the variant and the set of names too: :func:`session_key`).

    ``get`` builds on first use from the files its ``files`` argument opens (a worker passes a private
    copy, pinned by :class:`~omlsvc.scoring.files.ModelFiles`), else from the local file
    ``loader(sha256)`` returns; any error either raises passes through. Concurrent callers of ``get`` for
    the same key wait for a single build (a per-key lock); different keys build in parallel. The
    least recently used entry is dropped beyond ``capacity``; requests still running on it keep
    their reference, and the session is freed when the last one finishes.

    A key's spec must not change (the sha256 identifies the zip, which determines the spec): the spec
    passed to the ``get`` that builds an entry is the one it keeps.

    ``run_limits`` bound every run of the cached models (time through ``watchdog``, memory through
    the process's bounded arena, registered here before the first session when it sets a limit).
    """

    def __init__(
        self,
        capacity: int,
        loader: Callable[[str], Path] | None,
        options_factory: Callable[[], ort.SessionOptions],
        providers: Sequence[Provider],
        *,
        limits: InputLimits | None = None,
        image_options: ImageOptions | None = None,
        warm_up: bool = False,
        run_limits: RunLimits | None = None,
        watchdog: RunWatchdog | None = None,
        observer: Observer = UNOBSERVED,
    ) -> None:
        """``observer`` is told every lookup (hit or miss) and how long each build took."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._loader = loader
        self._options_factory = options_factory
        self._providers = list(providers)
        self._limits = limits
        self._image_options = image_options
        self._warm_up = warm_up
        self._run_limits = run_limits or RunLimits()
        self._watchdog = watchdog or RunWatchdog(self._run_options)
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, LoadedModel] = OrderedDict()
        self._building: dict[str, threading.Lock] = {}
        self._observer = observer

    def get(
        self,
        sha256: str,
        spec: ScoringSpec,
        *,
        warm_up: bool | None = None,
        files: OpenFiles | None = None,
        extra_outputs: frozenset[str] = frozenset(),
        variant: str = "",
    ) -> LoadedModel:
        """The loaded model for ``sha256``, built (and warmed up if asked) on first use, from the files
        ``files()`` opens (by default, the path the cache's loader gives).

        With ``extra_outputs`` the session is built over the graph with those values added as outputs
        (:func:`omlsvc.scoring.tensors.write_extended_model`), and cached under its own key: the
        model, the ``variant`` (what ``spec`` makes of it, e.g. a cut deployment's feature spec) and
        the set of names. The caller has checked the names against the graph."""
        key = session_key(sha256, extra_outputs, variant)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._observer.session_lookup(hit=True)
                return entry
            key_lock = self._building.setdefault(key, threading.Lock())
        self._observer.session_lookup(hit=False)
        with key_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:  # built meanwhile by the request this one waited for
                    self._entries.move_to_end(key)
                    return entry
            try:
                opened = files or self._loaded_path(sha256)
                started = time.perf_counter()
                entry = self._build(
                    sha256, spec, self._warm_up if warm_up is None else warm_up, opened, extra_outputs
                )
                self._observer.session_loaded(time.perf_counter() - started)
                with self._lock:
                    self._entries[key] = entry
                    if key != sha256:
                        self._bound_variants(sha256)
                    while len(self._entries) > self.capacity:
                        evicted, _ = self._entries.popitem(last=False)
                        logger.info("evicted model %s from the session cache", evicted[:12])
            finally:
                with self._lock:
                    if self._building.get(key) is key_lock:
                        del self._building[key]
        return entry

    def _bound_variants(self, sha256: str) -> None:
        """At most :data:`MAX_VARIANTS_PER_MODEL` extended sessions per model (oldest dropped first),
        so that clients asking for ever new sets of names cannot push other models out of the cache.
        Called with the lock held."""
        prefix = sha256 + _VARIANT_SEPARATOR
        variants = [k for k in self._entries if k.startswith(prefix)]
        for key in variants[: max(0, len(variants) - MAX_VARIANTS_PER_MODEL)]:
            del self._entries[key]

    def find_variant(
        self, sha256: str, extra_outputs: frozenset[str], variant: str = ""
    ) -> LoadedModel | None:
        """As :meth:`find` for a session over an extended graph (:meth:`get`'s ``extra_outputs``)."""
        key = session_key(sha256, extra_outputs, variant)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            self._observer.session_lookup(hit=True)
        return entry

    def find(self, sha256: str) -> LoadedModel | None:
        """The entry if cached (a hit, counted as one), else None without building it (the caller
        then asks :meth:`get`, which counts the miss)."""
        with self._lock:
            entry = self._entries.get(sha256)
        if entry is not None:
            self._observer.session_lookup(hit=True)
        return entry

    def peek(self, sha256: str) -> LoadedModel | None:
        """The entry if cached, without building it or refreshing its recency."""
        with self._lock:
            return self._entries.get(sha256)

    def evict(self, sha256: str) -> bool:
        """Drop a model's entries, those over extended graphs too (e.g. its model was deleted); True
        if its plain session was cached."""
        with self._lock:
            for key in [k for k in self._entries if k.startswith(sha256 + _VARIANT_SEPARATOR)]:
                del self._entries[key]
            return self._entries.pop(sha256, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def keys(self) -> list[str]:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._entries

    @property
    def warms_up(self) -> bool:
        """Whether sessions built ahead of requests run once on a dummy batch (``OMLSVC_WARM_UP``)."""
        return self._warm_up

    @property
    def watchdog(self) -> RunWatchdog:
        return self._watchdog

    @property
    def run_limits(self) -> RunLimits:
        return self._run_limits

    def _run_options(self) -> ort.RunOptions:
        return make_run_options(shrink_arena=self._run_limits.memory_bytes is not None)

    def _session_options(self) -> ort.SessionOptions:
        options = self._options_factory()
        if self._run_limits.memory_bytes is not None:
            use_bounded_cpu_allocator(self._run_limits.memory_bytes)
            options.add_session_config_entry("session.use_env_allocators", "1")
        return options

    def _loaded_path(self, sha256: str) -> OpenFiles:
        loader = self._loader
        if loader is None:
            raise ValueError("this session cache has no loader: pass the model's files to get()")
        return lambda: nullcontext(Path(loader(sha256)))

    def _build(
        self,
        sha256: str,
        spec: ScoringSpec,
        warm_up: bool,
        files: OpenFiles,
        extra_outputs: frozenset[str] = frozenset(),
    ) -> LoadedModel:
        with files() as path:
            hide = (str(path), str(path.parent))
            extended = None
            try:
                if extra_outputs:
                    extended = write_extended_model(path, sorted(extra_outputs))
                session = ort.InferenceSession(
                    str(extended or path), sess_options=self._session_options(), providers=self._providers
                )
            except Exception as exc:
                if not path.exists():
                    raise FileNotFoundError(f"model {sha256[:12]} has no file to load from") from exc
                raise scoring_failed(exc, f"model {sha256[:12]} could not be loaded", hide=hide) from exc
            finally:
                if extended is not None:
                    extended.unlink(missing_ok=True)
            image_mean = None
            if spec.image is not None and spec.image.mean_file is not None:
                image_mean = load_mean_file(path.parent, spec.image.mean_file)
        model = PreparedModel(
            spec,
            session,
            limits=self._limits,
            image_options=self._image_options,
            hide=hide,
            run_limits=self._run_limits,
            watchdog=self._watchdog,
            image_mean=image_mean,
        )
        if warm_up:
            try:
                model.warm_up()
                logger.debug("warmed up model %s", sha256[:12])
            except (ScoringFailed, ScoringTimeout, Unavailable) as exc:
                # zeros or empty strings are not valid input for every model (an encoder that refuses
                # unknown categories); the model still serves real requests, so this is not fatal.
                # A deploy checks its warm-up itself (PreparedModels.prepare_deployed).
                logger.warning("warm-up of model %s failed: %s", sha256[:12], exc.message)
        return LoadedModel(sha256, session, model, tuple(session.get_providers()))


_VARIANT_SEPARATOR = "|"


def session_key(sha256: str, extra_outputs: frozenset[str] = frozenset(), variant: str = "") -> str:
    """The cache key of a model's session: its sha256 alone for the plain graph; with the variant and
    the sorted names (NUL-separated: names are free text) for a graph with added outputs."""
    if not extra_outputs and not variant:
        return sha256
    return _VARIANT_SEPARATOR.join((sha256, variant, "\0".join(sorted(extra_outputs))))
