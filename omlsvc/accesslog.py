"""gunicorn's access log, with omlsvc's line built directly instead of through gunicorn's atoms.

gunicorn renders every access line from a dictionary of every request header, response header and
WSGI environ entry (``Logger.atoms``), each value escaped, then formatted with ``%``: on the 2-core
bench machine that is about as much CPU as scoring a small model. For the format ``gunicorn_conf``
sets, :class:`AccessLogger` writes the very same line (same fields, same ``"`` escaping) from the
five values it names; any other format (``GUNICORN_CMD_ARGS="--access-logformat ..."``) goes through
gunicorn's own code unchanged.

The lines of the default text format are written behind the requests (issue 20): a request adds its
line to a list, and a thread (:class:`~omlsvc.core.write_behind.WriteBehind`) writes what gathered
every 0.2 s, with one write and one flush, through each handler's own stream and lock (so gunicorn's
``USR1`` log reopening still works). A write and a flush per request, with the ``LogRecord`` the
logging machinery makes, cost 49 us of a worker's 395 us of CPU per batch-1 score request under
gunicorn on the bench machine. A worker that exits normally writes its lines at exit; one killed
outright loses at most its last 0.2 s of lines.

With ``OMLSVC_LOG_FORMAT=json`` gunicorn's own handlers (its error log and this access log) format
their records as :class:`omlsvc.core.logs.JsonFormatter` does: each access line is one JSON object
with the same line as ``message`` and ``request_id``, ``user``, ``route`` (the route template, never
the raw path), ``status`` and ``duration`` (milliseconds) as fields; the request's middleware left
them in the WSGI environ, since gunicorn writes the line after the request's log context has ended.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import threading
from typing import Any

from gunicorn.glogging import Logger

from omlsvc.config import Settings, SettingsError
from omlsvc.core.logs import REQUEST_ID_ENV, ROUTE_ENV, USER_ENV, use_format
from omlsvc.core.write_behind import WriteBehind

#: client, request line, status, body bytes, duration, request id (our ``X-Request-ID``).
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%({x-request-id}o)s"'
_REQUEST_ID = "x-request-id"
#: Lines a worker holds at most before the request that adds one writes them all itself.
MAX_HELD_LINES = 4096


class AccessLogger(Logger):
    _lines: AccessLines | None = None

    def setup(self, cfg: Any) -> None:
        if self._lines is not None:  # gunicorn sets up again on HUP: the lines so far go first
            self._lines.flush()
        super().setup(cfg)
        try:
            log_format = Settings.from_env(os.environ).log_format
        except SettingsError:  # gunicorn_conf refused to start on it already
            log_format = "text"
        if log_format != "text":
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                use_format(handler, log_format)
        self._lines = AccessLines.for_handlers(self.access_log.handlers) if log_format == "text" else None

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta) -> None:
        if not self.access_log_enabled:
            return
        if self.cfg.access_log_format != ACCESS_LOG_FORMAT:
            super().access(resp, req, environ, request_time)
            return
        log = self.access_log
        if not log.isEnabledFor(logging.INFO):
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
        if self._lines is not None:
            self._lines.add(line)
            return
        fields = {
            "request_id": environ.get(REQUEST_ID_ENV, request_id),
            "user": environ.get(USER_ENV),
            "route": environ.get(ROUTE_ENV),
            "status": int(status) if str(status).isdigit() else status,
            "duration": millis,
        }
        # the record made directly: ``info()`` would also walk the stack for the caller's file and
        # line, which no access format shows (a quarter of this method's time)
        record = logging.LogRecord(log.name, logging.INFO, __file__, 0, line, None, None)
        record.__dict__.update(fields)
        try:
            log.handle(record)
        except Exception:
            self.exception("could not write the access log")


def _escaped(value: str) -> str:
    return value.replace('"', '\\"') if '"' in value else value


class AccessLines:
    """Access lines of the text format waiting to be written to ``handlers`` (each a
    ``logging.StreamHandler`` that prints a record's message as it is)."""

    def __init__(self, handlers: list[logging.StreamHandler[Any]]) -> None:
        self._handlers = handlers
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # lines leave in the order they came
        self._lines: list[str] = []
        self._behind = WriteBehind(self.flush, name="omlsvc-access-log")

    @classmethod
    def for_handlers(cls, handlers: list[logging.Handler]) -> AccessLines | None:
        """Lines for these handlers, or None when one of them is not a stream printing the bare
        message (syslog, another format): those get every record as it comes, as before."""
        probe = logging.LogRecord("probe", logging.INFO, __file__, 0, "a line", None, None)
        streams = [
            h for h in handlers if isinstance(h, logging.StreamHandler) and h.format(probe) == "a line"
        ]
        return cls(streams) if streams and len(streams) == len(handlers) else None

    def add(self, line: str) -> None:
        with self._lock:
            lines = self._lines
            lines.append(line)
            held = len(lines)
        if held == 1:
            self._behind.pending()
        elif held >= MAX_HELD_LINES:
            self.flush()

    def flush(self) -> bool:
        """Write the lines held so far; whether there were any."""
        with self._writing:
            with self._lock:
                lines, self._lines = self._lines, []
            if not lines:
                return False
            for handler in self._handlers:
                text = handler.terminator.join(lines) + handler.terminator
                handler.acquire()
                try:
                    handler.stream.write(text)
                    handler.flush()
                except Exception as error:  # as logging's handlers do: say so, never fail the worker
                    print(f"omlsvc: could not write {len(lines)} access lines: {error!r}", file=sys.stderr)
                finally:
                    handler.release()
            return True
