"""nginx configuration for the production front: rendered from the templates shipped in the package.

Two files, so that a system nginx and ``omlsvc serve --front nginx`` run the same site:

- the *site* (``templates/nginx-site.conf``): limits, timeouts, buffering, forwarded headers and an
  upstream of one unix socket (``--front nginx``) or of several instances on TCP (a load balancer);
  ``omlsvc nginx-config`` prints it for a system nginx's ``http`` block;
- the *main* file (``templates/nginx-main.conf``) of the nginx that ``--front nginx`` starts: in the
  foreground, with its pid, temporary files and site in a folder of the data directory, errors to stderr.

Every value put into a template is checked to be a plain token, so no setting can add a directive.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import resource
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from omlsvc.config import Settings
from omlsvc.core.errors import Unavailable

#: Where Debian's nginx lives when /usr/sbin is not on PATH (as for users other than root).
FALLBACK_DIRS = ("/usr/sbin",)
#: Room for the multipart framing around the largest upload the service accepts.
BODY_SLACK_BYTES = 1024 * 1024
LOGINS_PER_SECOND = 10
LOGIN_BURST = 20
#: Idle keep-alive connections nginx keeps per worker to TCP instances, and for how long: below
#: gunicorn's own keep-alive (5 s), so nginx never sends on a connection gunicorn is closing.
UPSTREAM_KEEPALIVE = 32
UPSTREAM_KEEPALIVE_TIMEOUT_S = 4
MAX_WORKER_CONNECTIONS = 4096
NGINX_LOG_LEVELS = {
    "DEBUG": "info",
    "INFO": "notice",
    "WARNING": "warn",
    "ERROR": "error",
    "CRITICAL": "crit",
}

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
#: What a rendered value may hold: addresses, paths and numbers, nothing nginx would parse as syntax.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_./:\[\]@+-]+")


@dataclass(frozen=True)
class FrontFiles:
    """Where ``--front nginx`` keeps its nginx: the prefix folder, its two files and gunicorn's socket."""

    prefix: Path
    socket: Path

    @property
    def main_conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def site_conf(self) -> Path:
        return self.prefix / "site.conf"

    @classmethod
    def of(cls, settings: Settings) -> FrontFiles:
        return cls(settings.data_dir / "nginx", settings.unix_socket or settings.data_dir / "omlsvc.sock")


def render_site(settings: Settings, *, socket: Path | None = None, upstreams: Sequence[str] = ()) -> str:
    """The site for nginx's ``http`` block, in front of gunicorn on ``socket`` or of TCP ``upstreams``.

    It listens on ``OMLSVC_BIND``. Several upstreams are balanced by least connections; a request an
    instance has not received yet is passed to the next one.
    """
    if (socket is None) == (not upstreams):
        raise ValueError("give either a unix socket or TCP upstreams")
    if socket is not None:
        servers = [f"    server unix:{_safe(str(socket))};"]
    else:
        servers = ["    least_conn;"]
        servers += [f"    server {_safe(_upstream_address(address))};" for address in upstreams]
        servers += [
            f"    keepalive {UPSTREAM_KEEPALIVE};",
            f"    keepalive_timeout {UPSTREAM_KEEPALIVE_TIMEOUT_S}s;",
        ]
    return _render(
        "nginx-site.conf",
        {
            "upstream": "\n".join(servers),
            "listen": _safe(settings.bind),
            "requests_per_second": str(settings.front_requests_per_second),
            "logins_per_second": str(LOGINS_PER_SECOND),
            "login_burst": str(LOGIN_BURST),
            "connections_per_client": str(settings.front_connections_per_client),
            "header_timeout_s": str(settings.front_header_timeout_s),
            "body_timeout_s": str(settings.front_body_timeout_s),
            "request_timeout_s": str(settings.request_timeout_s),
            "max_body_bytes": str(max_body_bytes(settings)),
        },
    )


def render_main(settings: Settings, prefix: Path) -> str:
    """The main file of a foreground nginx kept in ``prefix``, including ``prefix/site.conf``."""
    return _render(
        "nginx-main.conf",
        {
            "user": _user_directive(),
            "prefix": _safe(str(prefix)),
            "graceful_timeout_s": str(settings.graceful_timeout_s),
            "log_level": NGINX_LOG_LEVELS[settings.log_level],
            "worker_connections": str(_worker_connections()),
        },
    )


def write_front_files(settings: Settings) -> FrontFiles:
    """Write the main file and the site of ``--front nginx`` into the data directory."""
    files = FrontFiles.of(settings)
    for folder in (files.prefix, files.prefix / "temp"):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    files.site_conf.write_text(render_site(settings, socket=files.socket))
    files.main_conf.write_text(render_main(settings, files.prefix))
    return files


def max_body_bytes(settings: Settings) -> int:
    return max(settings.max_upload_bytes, settings.max_request_bytes) + BODY_SLACK_BYTES


def nginx_command(program: Path, prefix: Path) -> list[str]:
    """nginx in the foreground (the main file says ``daemon off``), reporting errors on stderr."""
    return [str(program), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]


def find_nginx(program: str, environ: Mapping[str, str]) -> Path:
    """The nginx program named by ``OMLSVC_NGINX``: a path, or a name on PATH or in /usr/sbin."""
    if "/" in program:
        found = program if os.access(program, os.X_OK) and Path(program).is_file() else None
    else:
        path = os.pathsep.join([environ.get("PATH", os.defpath), *FALLBACK_DIRS])
        found = shutil.which(program, path=path)
    if found is None:
        raise Unavailable(
            f"nginx not found ({program!r} is not on PATH or in /usr/sbin): install it "
            "(Debian: apt-get install nginx), set OMLSVC_NGINX, or serve without --front nginx."
        )
    return Path(found)


def _render(template: str, values: Mapping[str, str]) -> str:
    text = resources.files("omlsvc.front").joinpath("templates", template).read_text()

    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(value, text)


def _safe(value: str) -> str:
    if not _SAFE_VALUE.fullmatch(value):
        raise Unavailable(f"{value!r} cannot be written into an nginx configuration (unusual characters).")
    return value


def _upstream_address(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Unavailable(f"upstream {address!r} must be HOST:PORT.")
    return address


def _user_directive() -> str:
    """As root, nginx's workers would become ``nobody`` and could not reach the socket: keep them
    the user omlsvc runs as (run omlsvc as an unprivileged user, as the packaging does)."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {_safe(user)} {_safe(group)};\n"


def _worker_connections() -> int:
    """As many as the open-file limit allows (each proxied request holds two descriptors)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_WORKER_CONNECTIONS
    return max(64, min(MAX_WORKER_CONNECTIONS, soft // 2))
