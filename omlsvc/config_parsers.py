"""Reading one ``OMLSVC_*`` variable: the parser of each kind of value and the error that names the
variable on a bad one (secrets and database passwords never shown).

Used only by :meth:`omlsvc.config.Settings.from_env`; each parser takes the stripped text and raises
``ValueError`` with the reason, which :class:`Environment` turns into a one-line :class:`SettingsError`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

PREFIX = "OMLSVC_"
#: HS256 keys shorter than the hash output are refused; generated ones are 64 characters.
MIN_JWT_SECRET_BYTES = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: ``text``: one human-readable line per record; ``json``: one JSON object per line (log shippers).
LOG_FORMATS = ("text", "json")

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A variable has an invalid value; the message names the variable and is one line."""


class Environment:
    """The ``OMLSVC_*`` variables of one mapping: each read with its parser, a blank one taking the
    default; a bad value is a :class:`SettingsError` naming the variable, secrets never shown."""

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
            shown = "***" if parse in (secret, jwt_secret) else repr(raw)
            if parse is database_url:  # issue 17: the error may be shown; its password never is
                shown = repr(_masked_url(raw))
            raise SettingsError(f"{key}={shown}: {exc}") from None


def jwt_key_files(env: Environment) -> tuple[Path | None, Path | None]:
    """The RS256 key pair (private, public): both files or neither."""
    private_key = env.get("JWT_PRIVATE_KEY_FILE", existing_file, None)
    public_key = env.get("JWT_PUBLIC_KEY_FILE", existing_file, None)
    if (private_key is None) != (public_key is None):
        raise SettingsError("OMLSVC_JWT_PRIVATE_KEY_FILE and OMLSVC_JWT_PUBLIC_KEY_FILE must be set together")
    return private_key, public_key


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def non_negative_float(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError("must be zero or a positive number")
    return value


def non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def log_format(raw: str) -> str:
    log_format = raw.lower()
    if log_format not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return log_format


def host_port(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT")
    return raw


#: ``sun_path`` holds 108 bytes including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 107


def unix_socket_path(raw: str) -> Path:
    if not raw.startswith("/"):
        raise ValueError("must be an absolute path")
    if len(os.fsencode(raw)) > MAX_UNIX_SOCKET_PATH:
        raise ValueError(f"must be at most {MAX_UNIX_SOCKET_PATH} bytes long (a unix socket path)")
    return Path(raw)


def database_url(raw: str) -> str:
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


def networks(raw: str) -> tuple[Network, ...]:
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


def existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError("no such file")
    return path


def secret(raw: str) -> str:
    if len(raw) < 8:
        raise ValueError("must be at least 8 characters")
    return raw


def jwt_secret(raw: str) -> str:
    """An HS256 key: at least as long as the hash (RFC 7518 3.2); a short one can be brute-forced."""
    if len(raw.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        raise ValueError(
            f"must be at least {MIN_JWT_SECRET_BYTES} bytes"
            " (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return raw


def allow_list(raw: str) -> tuple[str, ...]:
    """``OMLSVC_IMPORT_ALLOW`` (issue 15): comma-separated CIDRs, addresses or host names."""
    items = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            if not all(part.isalnum() or "-" in part for part in item.split(".")) or len(item) > 253:
                raise ValueError(f"{item!r} is neither a CIDR network, an address nor a host name") from None
    return items
