"""gunicorn's access log, with omlsvc's line built directly instead of through gunicorn's atoms.

gunicorn renders every access line from a dictionary of every request header, response header and
WSGI environ entry (``Logger.atoms``), each value escaped, then formatted with ``%``: on the 2-core
bench machine that is about as much CPU as scoring a small model. For the format ``gunicorn_conf``
sets, :class:`AccessLogger` writes the very same line (same fields, same ``"`` escaping) from the
five values it names; any other format (``GUNICORN_CMD_ARGS="--access-logformat ..."``) goes through
gunicorn's own code unchanged.
"""

from __future__ import annotations

import datetime
from typing import Any

from gunicorn.glogging import Logger

#: client, request line, status, body bytes, duration, request id (our ``X-Request-ID``).
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%({x-request-id}o)s"'
_REQUEST_ID = "x-request-id"


class AccessLogger(Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta) -> None:
        if not self.access_log_enabled:
            return
        if self.cfg.access_log_format != ACCESS_LOG_FORMAT:
            super().access(resp, req, environ, request_time)
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        request_id = "-"
        for name, value in resp.headers:
            if name.lower() == _REQUEST_ID:
                request_id = _escaped(value)
                break
        request_line = _escaped(
            f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
        )
        millis = request_time.seconds * 1000 + request_time.microseconds // 1000
        line = (
            f'{_escaped(environ.get("REMOTE_ADDR", "-"))} "{request_line}" {status} '
            f'{sent if sent is not None else "-"} {millis}ms "{request_id}"'
        )
        try:
            self.access_log.info(line)
        except Exception:
            self.exception("could not write the access log")


def _escaped(value: str) -> str:
    return value.replace('"', '\\"') if '"' in value else value
