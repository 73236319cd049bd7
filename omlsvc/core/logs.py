"""Log lines that say which request, user, route, job and run they belong to.

The REST middleware binds ``request_id``, ``user`` and ``route`` for the time a request runs, the job
runner binds ``job_id`` and ``run_id`` around a run's work (:func:`log_context`; each is a
:class:`contextvars.ContextVar`, so gunicorn's gthread threads never see another request's values, and
the binding is undone when the block ends). :class:`ContextFilter`, on every handler
:func:`configure_logging` installs, copies them onto each record; a field passed in ``extra=`` wins.

Two formats (``OMLSVC_LOG_FORMAT``): ``text``, one human-readable line (the bound fields appended as
``key=value``), and ``json``, one JSON object per line for log shippers (:class:`JsonFormatter`): an
exception is one ``exc_info`` string field, never lines of its own.
"""

from __future__ import annotations

import contextvars
import datetime
import itertools
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import orjson

#: The fields bound to the context, in the order the text format appends them.
FIELDS = ("request_id", "user", "route", "job_id", "run_id")
#: Fields the access log passes in ``extra`` (JSON only).
ACCESS_FIELDS = ("status", "duration")
#: WSGI environ keys where a web transport leaves a request's fields for the access log, which the
#: server (gunicorn) writes after the request, and its log context, have ended.
REQUEST_ID_ENV = "omlsvc.request_id"
ROUTE_ENV = "omlsvc.route"
USER_ENV = "omlsvc.user"
TEXT_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

#: A client's request id is kept only when it is a short token of these characters.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_NOTHING: Mapping[str, str] = MappingProxyType({})
_bound: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("omlsvc_log_fields")


def request_id_of(given: str | None) -> str:
    """``given`` when it is a sane request id (printable token characters, at most 64), else a new one."""
    if given is not None and REQUEST_ID_PATTERN.fullmatch(given):
        return given
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _new_id_prefix() -> None:
    """A fresh random half for this process's request ids (again in every forked worker): ids stay
    32 hex digits and unique across workers and hosts, without a system call per request."""
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX = os.urandom(8).hex()
    _ID_COUNTER = itertools.count(int.from_bytes(os.urandom(4), "big"))


_ID_PREFIX = ""
_ID_COUNTER = itertools.count()
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def bound_fields() -> Mapping[str, str]:
    return _bound.get(_NOTHING)


def bind(**fields: str | None) -> contextvars.Token[Mapping[str, str]]:
    """Add ``fields`` (None values dropped) to the current context; undo with :func:`unbind`."""
    merged = {**_bound.get(_NOTHING), **{k: v for k, v in fields.items() if v is not None}}
    return _bound.set(merged)


def unbind(token: contextvars.Token[Mapping[str, str]]) -> None:
    _bound.reset(token)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Bind ``fields`` for the block: every line logged inside carries them."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (keeps what ``extra=`` set); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _bound.get(_NOTHING).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The human-readable line, with the bound fields appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None))
        return f"{line} {extra}" if extra else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS + ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return orjson.dumps(entry, default=str).decode("utf-8")


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(level: str, log_format: str) -> None:
    """The root logger of a process (gunicorn worker, ``omlsvc jobs worker``): one stderr handler in
    ``log_format`` at ``level``, carrying the bound fields."""
    handler = logging.StreamHandler(sys.stderr)
    use_format(handler, log_format)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def use_format(handler: logging.Handler, log_format: str) -> None:
    """Give ``handler`` the format and the context filter (also used on gunicorn's own handlers)."""
    handler.setFormatter(formatter_for(log_format))
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())


def announcement(message: str, log_format: str, *, logger: str = "omlsvc") -> str:
    """A line written straight to the terminal (``omlsvc serve``'s start-up lines), in ``log_format``."""
    if log_format != "json":
        return message
    record = logging.LogRecord(logger, logging.INFO, __file__, 0, message, None, None)
    return JsonFormatter().format(record)
