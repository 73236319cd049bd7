"""Database errors reported to the worker's :class:`~omlsvc.core.observe.Observer` (issue 18).

One ``handle_error`` listener per engine, whatever number of object graphs share it (tests build an
app per test over one engine): the graphs' observers are held weakly, so a graph that is gone stops
hearing, and no listener piles up on a long-lived engine.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine, event, exc

from omlsvc.core.observe import Observer

#: SQLAlchemy's DBAPI error classes, most specific first, and the kind each is counted as.
_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (exc.IntegrityError, "integrity"),
    (exc.OperationalError, "operational"),
    (exc.ProgrammingError, "programming"),
    (exc.DataError, "data"),
    (exc.InternalError, "internal"),
    (exc.InterfaceError, "interface"),
    (exc.NotSupportedError, "not_supported"),
)

_observers: weakref.WeakKeyDictionary[Engine, weakref.WeakSet[Observer]] = weakref.WeakKeyDictionary()


def watch_database_errors(engine: Engine, observer: Observer) -> None:
    """Tell ``observer`` the kind of every error the database raises through ``engine``, a failed
    connection included (``disconnect`` when SQLAlchemy sees the connection lost)."""
    observers = _observers.get(engine)
    if observers is None:
        observers = weakref.WeakSet()
        _observers[engine] = observers
        event.listen(engine, "handle_error", _Listener(observers))
    observers.add(observer)


def error_kind(context: Any) -> str:
    """The kind of the error in a ``handle_error`` context."""
    if context.is_disconnect:
        return "disconnect"
    error = context.sqlalchemy_exception
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    return "other"


class _Listener:
    """Holds the observers, never the engine (which holds the listener)."""

    def __init__(self, observers: weakref.WeakSet[Observer]) -> None:
        self._observers = observers

    def __call__(self, context: Any) -> None:
        kind = error_kind(context)
        for observer in list(self._observers):
            observer.database_error(kind)
