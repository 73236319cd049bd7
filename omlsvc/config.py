"""Settings: every ``OMLSVC_*`` variable, read once, typed, validated, secrets masked.

``Settings.from_env(environ)`` is the only place the environment is read. The object is frozen and
passed down to whatever needs a value, so tests build one with ``Settings.for_tests`` or
``dataclasses.replace`` instead of patching the process environment. How each variable is parsed,
and the error that names it on a bad value, is :mod:`omlsvc.config_parsers`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from omlsvc import config_parsers as parse

__all__ = ["PREFIX", "WORKER_INDEX_ENV", "Network", "Settings", "SettingsError", "host_memory"]

PREFIX = parse.PREFIX
Network = parse.Network
SettingsError = parse.SettingsError
#: Set by gunicorn's ``post_fork`` hook in each worker: its stable index, which picks its GPU.
WORKER_INDEX_ENV = "OMLSVC_WORKER_INDEX"
DEFAULT_BIND = "127.0.0.1:8080"
DEFAULT_TOKEN_LIFETIME_S = 3600
DEFAULT_REFRESH_WINDOW_S = 8 * 3600
DEFAULT_LOGIN_FREE_ATTEMPTS = 5
DEFAULT_LOGIN_MAX_DELAY_S = 15 * 60
GIB = 1024 * 1024 * 1024
#: Where cgroup v2 says how much memory this service may use (a container's or systemd unit's limit).
CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")


def default_data_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_DATA_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "omlsvc"


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one omlsvc process (and its gunicorn workers)."""

    data_dir: Path
    database_url: str = field(repr=False)
    bind: str = DEFAULT_BIND
    workers: int = 2
    threads: int = 4
    log_level: str = "INFO"
    log_format: str = "text"
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    token_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S
    token_refresh_window_s: int = DEFAULT_REFRESH_WINDOW_S
    #: failed logins per user name and per client address before each further one waits (1 s, doubling).
    login_free_attempts: int = DEFAULT_LOGIN_FREE_ATTEMPTS
    #: the longest such wait, in seconds.
    login_max_delay_s: int = DEFAULT_LOGIN_MAX_DELAY_S
    #: password checks (scrypt) a worker runs at once; further logins are answered 429 at once.
    login_concurrency: int = 1
    max_request_bytes: int = 64 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    max_uncompressed_bytes: int = 4 * 1024 * 1024 * 1024
    max_zip_entries: int = 1000
    max_zip_ratio: int = 200
    max_score_rows: int = 10_000
    max_image_pixels: int = 50_000_000
    session_cache_size: int = 16
    intra_op_threads: int = 0
    warm_up: bool = True
    admin_password: str | None = field(default=None, repr=False)
    chunk_bytes: int = 4 * 1024 * 1024
    graceful_timeout_s: int = 30
    request_timeout_s: int = 120
    #: the in-process batch job runner of ``omlsvc serve``; None: on for SQLite, off otherwise.
    job_runner: bool | None = None
    job_chunk_rows: int = 10_000
    job_lease_s: int = 120
    job_poll_s: float = 2.0
    #: monitoring jobs (issue 17): features of one DATA_MONITORING job, models of one MODEL_MONITORING job.
    monitor_max_features: int = 250
    monitor_max_models: int = 20
    #: gunicorn listens on this unix socket instead of ``bind`` (``omlsvc serve --front nginx`` sets it).
    unix_socket: Path | None = None
    #: the nginx program of ``omlsvc serve --front nginx``: a name looked up on PATH and in /usr/sbin, or a path.
    nginx: str = "nginx"
    front_header_timeout_s: int = 10
    front_body_timeout_s: int = 30
    front_connections_per_client: int = 100
    front_requests_per_second: int = 1000
    #: peers (CIDRs) whose X-Forwarded-Host/-Proto/-For are believed; none by default.
    trusted_proxies: tuple[Network, ...] = ()
    #: seconds a model run may take, unless its deployment says otherwise.
    score_timeout_s: float = 30.0
    #: resident bytes above which a worker finishes its requests and is replaced; 0: a share of the host.
    max_worker_memory: int = 0
    #: bytes onnxruntime may hold for all runs of one worker together; 0: half of the worker ceiling.
    max_scoring_memory: int = 0
    #: what the isolated validation of an upload (load plus one trial run) may use.
    validation_cpu_s: int = 120
    validation_memory: int = 8 * GIB
    max_image_target_pixels: int = 4096 * 4096
    max_request_pixels: int = 64 * 1024 * 1024
    max_labels: int = 100_000
    max_response_bytes: int = 32 * 1024 * 1024
    #: Dynamic batching (issue 20) of deployments that set none: the most rows one merged run holds
    #: (0 or 1: off, the default) and the longest a request waits for others, in milliseconds (their
    #: upper limits are checked where they are used: omlsvc.core.batching.service_default).
    batch_max_size: int = 0
    batch_max_delay_ms: float = 2.0
    #: A bearer token a Prometheus scraper may present to ``GET /metrics`` (sees every deployment).
    metrics_token: str | None = field(default=None, repr=False)
    # -- tasks: URL import (issue 15) --
    #: CIDRs and host names an import URL may reach although private, loopback or link-local.
    import_allow: tuple[str, ...] = ()
    import_connect_timeout_s: float = 10.0
    #: the longest a download may wait for its next bytes.
    import_read_timeout_s: float = 30.0
    #: the longest a whole download may take.
    import_total_timeout_s: float = 3600.0
    # -- issue 16: images by reference (``{"imageUrl": ...}`` in score records), fetched under
    # ``import_allow`` like URL imports; each at most ``max_request_bytes``.
    #: the most image URLs one score request may name (0: imageUrl is refused).
    max_image_urls: int = 16
    image_url_connect_timeout_s: float = 5.0
    #: the longest all the image URLs of one score request may take to fetch, together.
    image_url_timeout_s: float = 15.0
    #: issue 18: where ``omlsvc jobs worker`` serves its own ``GET /metrics`` (None: nowhere)
    jobs_metrics_bind: str | None = None

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def worker_memory_ceiling(self) -> int:
        """``max_worker_memory``, or the host's (or cgroup's) memory shared by the workers plus one
        (the master and everything else on the host)."""
        return self.max_worker_memory or host_memory() // (self.workers + 1)

    @property
    def scoring_memory_limit(self) -> int:
        """``max_scoring_memory``, or half of the worker ceiling (at least 256 MiB)."""
        return self.max_scoring_memory or max(self.worker_memory_ceiling // 2, 256 * 1024 * 1024)

    @property
    def database_url_masked(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def uses_rs256(self) -> bool:
        return self.jwt_private_key_file is not None

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
        return f"Settings({shown}, database_url={self.database_url_masked!r}, jwt_secret=***)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``OMLSVC_*`` variables; raise :class:`SettingsError` on a bad value.

        The data directory, the database URL (which defaults to a file in it) and the JWT key pair
        (both files or neither) come first; every other field is a row of :data:`VARIABLES`, read in
        that order with the field's default (the number of workers: one per CPU)."""
        env = parse.Environment(environ)
        data_dir = env.get("DATA_DIR", Path, default_data_dir(environ))
        database_url = env.get("DATABASE_URL", parse.database_url, f"sqlite:///{data_dir / 'omlsvc.db'}")
        private_key, public_key = parse.jwt_key_files(env)
        defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(cls)}
        defaults["workers"] = max(1, os.cpu_count() or 1)
        settings = cls(
            data_dir=data_dir,
            database_url=database_url,
            jwt_private_key_file=private_key,
            jwt_public_key_file=public_key,
            **{name: env.get(variable, parser, defaults[name]) for name, variable, parser in VARIABLES},
        )
        if settings.jobs_metrics_bind and not settings.metrics_token:  # issue 18: deny by default
            raise SettingsError(
                "OMLSVC_JOBS_METRICS_BIND needs OMLSVC_METRICS_TOKEN: the scraper of a jobs worker "
                "presents that token"
            )
        return settings

    @classmethod
    def for_tests(cls, data_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
        """Settings for a test: a private data directory, a fixed secret, no warm-up."""
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url": database_url or f"sqlite:///{data_dir / 'omlsvc.db'}",
            "jwt_secret": "test-secret-" + "x" * 40,
            "workers": 1,
            "warm_up": False,
        }
        values.update(overrides)
        return cls(**values)


def host_memory() -> int:
    """Bytes of memory this process may use: the host's physical memory, or less when a cgroup
    (container, systemd ``MemoryMax``) limits it."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = CGROUP_MEMORY_MAX.read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


#: Every setting read from one variable: (field, variable without ``OMLSVC_``, parser), in the order
#: they are read (the first bad value is the one reported). The default is the field's.
VARIABLES: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("bind", "BIND", parse.host_port),
    ("workers", "WORKERS", parse.positive_int),
    ("threads", "THREADS", parse.positive_int),
    ("log_level", "LOG_LEVEL", parse.log_level),
    ("log_format", "LOG_FORMAT", parse.log_format),
    ("jwt_secret", "JWT_SECRET", parse.jwt_secret),
    ("token_lifetime_s", "TOKEN_LIFETIME", parse.positive_int),
    ("token_refresh_window_s", "TOKEN_REFRESH_WINDOW", parse.positive_int),
    ("login_free_attempts", "LOGIN_FREE_ATTEMPTS", parse.non_negative_int),
    ("login_max_delay_s", "LOGIN_MAX_DELAY", parse.positive_int),
    ("login_concurrency", "LOGIN_CONCURRENCY", parse.positive_int),
    ("max_request_bytes", "MAX_REQUEST_BYTES", parse.positive_int),
    ("max_upload_bytes", "MAX_UPLOAD_BYTES", parse.positive_int),
    ("max_uncompressed_bytes", "MAX_UNCOMPRESSED_BYTES", parse.positive_int),
    ("max_zip_entries", "MAX_ZIP_ENTRIES", parse.positive_int),
    ("max_zip_ratio", "MAX_ZIP_RATIO", parse.positive_int),
    ("max_score_rows", "MAX_SCORE_ROWS", parse.positive_int),
    ("max_image_pixels", "MAX_IMAGE_PIXELS", parse.positive_int),
    ("session_cache_size", "SESSION_CACHE_SIZE", parse.positive_int),
    ("intra_op_threads", "INTRA_OP_THREADS", parse.non_negative_int),
    ("warm_up", "WARM_UP", parse.boolean),
    ("admin_password", "ADMIN_PASSWORD", parse.secret),
    ("metrics_token", "METRICS_TOKEN", parse.secret),
    ("chunk_bytes", "CHUNK_BYTES", parse.positive_int),
    ("graceful_timeout_s", "GRACEFUL_TIMEOUT", parse.positive_int),
    ("request_timeout_s", "REQUEST_TIMEOUT", parse.positive_int),
    ("job_runner", "JOB_RUNNER", parse.boolean),
    ("job_chunk_rows", "JOB_CHUNK_ROWS", parse.positive_int),
    ("job_lease_s", "JOB_LEASE", parse.positive_int),
    ("job_poll_s", "JOB_POLL", parse.positive_float),
    ("monitor_max_features", "MONITOR_MAX_FEATURES", parse.positive_int),
    ("monitor_max_models", "MONITOR_MAX_MODELS", parse.positive_int),
    ("unix_socket", "UNIX_SOCKET", parse.unix_socket_path),
    ("nginx", "NGINX", str),
    ("front_header_timeout_s", "FRONT_HEADER_TIMEOUT", parse.positive_int),
    ("front_body_timeout_s", "FRONT_BODY_TIMEOUT", parse.positive_int),
    ("front_connections_per_client", "FRONT_CONNECTIONS_PER_CLIENT", parse.positive_int),
    ("front_requests_per_second", "FRONT_REQUESTS_PER_SECOND", parse.positive_int),
    ("trusted_proxies", "TRUSTED_PROXIES", parse.networks),
    ("score_timeout_s", "SCORE_TIMEOUT", parse.positive_float),
    ("max_worker_memory", "MAX_WORKER_MEMORY", parse.positive_int),
    ("max_scoring_memory", "MAX_SCORING_MEMORY", parse.positive_int),
    ("validation_cpu_s", "VALIDATION_CPU_SECONDS", parse.positive_int),
    ("validation_memory", "VALIDATION_MEMORY", parse.positive_int),
    ("max_image_target_pixels", "MAX_IMAGE_TARGET_PIXELS", parse.positive_int),
    ("max_request_pixels", "MAX_REQUEST_PIXELS", parse.positive_int),
    ("max_labels", "MAX_LABELS", parse.positive_int),
    ("max_response_bytes", "MAX_RESPONSE_BYTES", parse.positive_int),
    ("import_allow", "IMPORT_ALLOW", parse.allow_list),
    ("import_connect_timeout_s", "IMPORT_CONNECT_TIMEOUT", parse.positive_float),
    ("import_read_timeout_s", "IMPORT_READ_TIMEOUT", parse.positive_float),
    ("import_total_timeout_s", "IMPORT_TOTAL_TIMEOUT", parse.positive_float),
    ("jobs_metrics_bind", "JOBS_METRICS_BIND", parse.host_port),
    ("max_image_urls", "MAX_IMAGE_URLS", parse.non_negative_int),
    ("image_url_connect_timeout_s", "IMAGE_URL_CONNECT_TIMEOUT", parse.positive_float),
    ("image_url_timeout_s", "IMAGE_URL_TIMEOUT", parse.positive_float),
    ("batch_max_size", "BATCH_MAX_SIZE", parse.non_negative_int),
    ("batch_max_delay_ms", "BATCH_MAX_DELAY_MS", parse.non_negative_float),
)
