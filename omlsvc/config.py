"""Settings: every ``OMLSVC_*`` variable, read once, typed, validated, secrets masked.

``Settings.from_env(environ)`` is the only place the environment is read. The object is frozen and
passed down to whatever needs a value, so tests build one with ``Settings.for_tests`` or
``dataclasses.replace`` instead of patching the process environment.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

PREFIX = "OMLSVC_"
#: Set by gunicorn's ``post_fork`` hook in each worker: its stable index, which picks its GPU.
WORKER_INDEX_ENV = "OMLSVC_WORKER_INDEX"
DEFAULT_BIND = "127.0.0.1:8080"
DEFAULT_TOKEN_LIFETIME_S = 3600
DEFAULT_REFRESH_WINDOW_S = 8 * 3600
DEFAULT_LOGIN_FREE_ATTEMPTS = 5
DEFAULT_LOGIN_MAX_DELAY_S = 15 * 60
#: HS256 keys shorter than the hash output are refused; generated ones are 64 characters.
MIN_JWT_SECRET_BYTES = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: ``text``: one human-readable line per record; ``json``: one JSON object per line (log shippers).
LOG_FORMATS = ("text", "json")
GIB = 1024 * 1024 * 1024
#: Where cgroup v2 says how much memory this service may use (a container's or systemd unit's limit).
CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A variable has an invalid value; the message names the variable and is one line."""


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
        """Build settings from ``OMLSVC_*`` variables; raise :class:`SettingsError` on a bad value."""
        env = _Env(environ)
        data_dir = env.get("DATA_DIR", Path, default_data_dir(environ))
        database_url = env.get("DATABASE_URL", _database_url, f"sqlite:///{data_dir / 'omlsvc.db'}")
        private_key, public_key = _jwt_key_files(env)
        settings = cls(
            data_dir=data_dir,
            database_url=database_url,
            bind=env.get("BIND", _bind, DEFAULT_BIND),
            workers=env.get("WORKERS", _positive_int, max(1, os.cpu_count() or 1)),
            threads=env.get("THREADS", _positive_int, 4),
            log_level=env.get("LOG_LEVEL", _log_level, "INFO"),
            log_format=env.get("LOG_FORMAT", _log_format, "text"),
            jwt_secret=env.get("JWT_SECRET", _jwt_secret, None),
            jwt_private_key_file=private_key,
            jwt_public_key_file=public_key,
            token_lifetime_s=env.get("TOKEN_LIFETIME", _positive_int, DEFAULT_TOKEN_LIFETIME_S),
            token_refresh_window_s=env.get("TOKEN_REFRESH_WINDOW", _positive_int, DEFAULT_REFRESH_WINDOW_S),
            login_free_attempts=env.get(
                "LOGIN_FREE_ATTEMPTS", _non_negative_int, DEFAULT_LOGIN_FREE_ATTEMPTS
            ),
            login_max_delay_s=env.get("LOGIN_MAX_DELAY", _positive_int, DEFAULT_LOGIN_MAX_DELAY_S),
            login_concurrency=env.get("LOGIN_CONCURRENCY", _positive_int, cls.login_concurrency),
            max_request_bytes=env.get("MAX_REQUEST_BYTES", _positive_int, cls.max_request_bytes),
            max_upload_bytes=env.get("MAX_UPLOAD_BYTES", _positive_int, cls.max_upload_bytes),
            max_uncompressed_bytes=env.get(
                "MAX_UNCOMPRESSED_BYTES", _positive_int, cls.max_uncompressed_bytes
            ),
            max_zip_entries=env.get("MAX_ZIP_ENTRIES", _positive_int, cls.max_zip_entries),
            max_zip_ratio=env.get("MAX_ZIP_RATIO", _positive_int, cls.max_zip_ratio),
            max_score_rows=env.get("MAX_SCORE_ROWS", _positive_int, cls.max_score_rows),
            max_image_pixels=env.get("MAX_IMAGE_PIXELS", _positive_int, cls.max_image_pixels),
            session_cache_size=env.get("SESSION_CACHE_SIZE", _positive_int, cls.session_cache_size),
            intra_op_threads=env.get("INTRA_OP_THREADS", _non_negative_int, 0),
            warm_up=env.get("WARM_UP", _boolean, True),
            admin_password=env.get("ADMIN_PASSWORD", _secret, None),
            metrics_token=env.get("METRICS_TOKEN", _secret, None),
            chunk_bytes=env.get("CHUNK_BYTES", _positive_int, cls.chunk_bytes),
            graceful_timeout_s=env.get("GRACEFUL_TIMEOUT", _positive_int, cls.graceful_timeout_s),
            request_timeout_s=env.get("REQUEST_TIMEOUT", _positive_int, cls.request_timeout_s),
            job_runner=env.get("JOB_RUNNER", _boolean, None),
            job_chunk_rows=env.get("JOB_CHUNK_ROWS", _positive_int, cls.job_chunk_rows),
            job_lease_s=env.get("JOB_LEASE", _positive_int, cls.job_lease_s),
            job_poll_s=env.get("JOB_POLL", _positive_float, cls.job_poll_s),
            monitor_max_features=env.get("MONITOR_MAX_FEATURES", _positive_int, cls.monitor_max_features),
            monitor_max_models=env.get("MONITOR_MAX_MODELS", _positive_int, cls.monitor_max_models),
            unix_socket=env.get("UNIX_SOCKET", _unix_socket_path, None),
            nginx=env.get("NGINX", str, cls.nginx),
            front_header_timeout_s=env.get("FRONT_HEADER_TIMEOUT", _positive_int, cls.front_header_timeout_s),
            front_body_timeout_s=env.get("FRONT_BODY_TIMEOUT", _positive_int, cls.front_body_timeout_s),
            front_connections_per_client=env.get(
                "FRONT_CONNECTIONS_PER_CLIENT", _positive_int, cls.front_connections_per_client
            ),
            front_requests_per_second=env.get(
                "FRONT_REQUESTS_PER_SECOND", _positive_int, cls.front_requests_per_second
            ),
            trusted_proxies=env.get("TRUSTED_PROXIES", _networks, ()),
            score_timeout_s=env.get("SCORE_TIMEOUT", _positive_float, cls.score_timeout_s),
            max_worker_memory=env.get("MAX_WORKER_MEMORY", _positive_int, 0),
            max_scoring_memory=env.get("MAX_SCORING_MEMORY", _positive_int, 0),
            validation_cpu_s=env.get("VALIDATION_CPU_SECONDS", _positive_int, cls.validation_cpu_s),
            validation_memory=env.get("VALIDATION_MEMORY", _positive_int, cls.validation_memory),
            max_image_target_pixels=env.get(
                "MAX_IMAGE_TARGET_PIXELS", _positive_int, cls.max_image_target_pixels
            ),
            max_request_pixels=env.get("MAX_REQUEST_PIXELS", _positive_int, cls.max_request_pixels),
            max_labels=env.get("MAX_LABELS", _positive_int, cls.max_labels),
            max_response_bytes=env.get("MAX_RESPONSE_BYTES", _positive_int, cls.max_response_bytes),
            # -- tasks: URL import (issue 15) --
            import_allow=env.get("IMPORT_ALLOW", _allow_list, ()),
            import_connect_timeout_s=env.get(
                "IMPORT_CONNECT_TIMEOUT", _positive_float, cls.import_connect_timeout_s
            ),
            import_read_timeout_s=env.get("IMPORT_READ_TIMEOUT", _positive_float, cls.import_read_timeout_s),
            import_total_timeout_s=env.get(
                "IMPORT_TOTAL_TIMEOUT", _positive_float, cls.import_total_timeout_s
            ),
            jobs_metrics_bind=env.get("JOBS_METRICS_BIND", _bind, None),
            # -- issue 16: images by reference --
            max_image_urls=env.get("MAX_IMAGE_URLS", _non_negative_int, cls.max_image_urls),
            image_url_connect_timeout_s=env.get(
                "IMAGE_URL_CONNECT_TIMEOUT", _positive_float, cls.image_url_connect_timeout_s
            ),
            image_url_timeout_s=env.get("IMAGE_URL_TIMEOUT", _positive_float, cls.image_url_timeout_s),
            batch_max_size=env.get("BATCH_MAX_SIZE", _non_negative_int, cls.batch_max_size),
            batch_max_delay_ms=env.get("BATCH_MAX_DELAY_MS", _non_negative_float, cls.batch_max_delay_ms),
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


def _jwt_key_files(env: _Env) -> tuple[Path | None, Path | None]:
    """The RS256 key pair (private, public): both files or neither."""
    private_key = env.get("JWT_PRIVATE_KEY_FILE", _existing_file, None)
    public_key = env.get("JWT_PUBLIC_KEY_FILE", _existing_file, None)
    if (private_key is None) != (public_key is None):
        raise SettingsError("OMLSVC_JWT_PRIVATE_KEY_FILE and OMLSVC_JWT_PUBLIC_KEY_FILE must be set together")
    return private_key, public_key


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        key = PREFIX + name
        raw = self._environ.get(key)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except (ValueError, ArgumentError) as exc:
            shown = "***" if parse in (_secret, _jwt_secret) else repr(raw)
            if parse is _database_url:  # issue 17: the error may be shown; its password never is
                shown = repr(_masked_url(raw))
            raise SettingsError(f"{key}={shown}: {exc}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError("must be zero or a positive number")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _log_format(raw: str) -> str:
    log_format = raw.lower()
    if log_format not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return log_format


def _bind(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT")
    return raw


#: ``sun_path`` holds 108 bytes including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 107


def _unix_socket_path(raw: str) -> Path:
    if not raw.startswith("/"):
        raise ValueError("must be an absolute path")
    if len(os.fsencode(raw)) > MAX_UNIX_SOCKET_PATH:
        raise ValueError(f"must be at most {MAX_UNIX_SOCKET_PATH} bytes long (a unix socket path)")
    return Path(raw)


def _database_url(raw: str) -> str:
    url = make_url(raw)
    if url.get_backend_name() not in ("sqlite", "postgresql", "oracle"):
        raise ValueError("must be a sqlite://, postgresql+psycopg:// or oracle+oracledb:// URL")
    _require_driver(url)
    return raw


# -- issue 17: a URL whose driver is not installed is a one-line error saying what to install ----------

#: The pip requirement that provides a driver module, where it is not the module's own name.
DRIVER_REQUIREMENTS = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary"}
#: The driver ``omlsvc.db.engine`` uses for a URL that names none (``postgresql://``, ``oracle://``).
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "oracle": "oracle+oracledb"}


def _require_driver(url: URL) -> None:
    """Import the URL's database driver now, so that a missing one stops the start with what to
    install instead of a ``ModuleNotFoundError`` traceback in every gunicorn worker."""
    if url.drivername in DEFAULT_DRIVERS:
        url = url.set(drivername=DEFAULT_DRIVERS[url.drivername])
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ValueError(f"names the driver {url.drivername!r}, which SQLAlchemy does not know") from None
    except ImportError as error:
        module = (error.name or url.get_driver_name()).split(".")[0]
        requirement = DRIVER_REQUIREMENTS.get(module, module)
        raise ValueError(
            f"needs the Python driver {module!r}, which is not installed: pip install '{requirement}'"
        ) from None


def _masked_url(raw: str) -> str:
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return "***"


def _networks(raw: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks (``10.0.0.0/8, ::1``)."""
    networks = []
    for item in raw.split(","):
        item = item.strip()
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError("no such file")
    return path


def _secret(raw: str) -> str:
    if len(raw) < 8:
        raise ValueError("must be at least 8 characters")
    return raw


def _jwt_secret(raw: str) -> str:
    """An HS256 key: at least as long as the hash (RFC 7518 3.2); a short one can be brute-forced."""
    if len(raw.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        raise ValueError(
            f"must be at least {MIN_JWT_SECRET_BYTES} bytes"
            " (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return raw


def _allow_list(raw: str) -> tuple[str, ...]:
    """``OMLSVC_IMPORT_ALLOW`` (issue 15): comma-separated CIDRs, addresses or host names."""
    items = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            if not all(part.isalnum() or "-" in part for part in item.split(".")) or len(item) > 253:
                raise ValueError(f"{item!r} is neither a CIDR network, an address nor a host name") from None
    return items
