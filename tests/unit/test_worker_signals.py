"""A worker asked twice to quit (Ctrl-C reaches it from the terminal's process group and, a moment
later, as SIGQUIT from the master) runs its quit handler once: gunicorn's gthread handler is not
re-entrant, and a second run of it inside the first used to hang the worker until it was SIGKILLed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from omlsvc.gunicorn_conf import quit_once


class Worker:
    """The part of a gunicorn worker ``quit_once`` uses: a quit handler. This one is interrupted by a
    second quit signal while it runs, the way the master's SIGQUIT follows the group's SIGINT."""

    def __init__(self) -> None:
        self.quits: list[int] = []

    def handle_quit(self, sig: int, frame: Any) -> None:
        self.quits.append(sig)
        if len(self.quits) == 1:
            os.kill(os.getpid(), signal.SIGQUIT)  # delivered here, inside this handler


@pytest.fixture
def restored_quit_handlers() -> Iterator[None]:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGQUIT)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@pytest.mark.usefixtures("restored_quit_handlers")
def test_a_second_quit_signal_while_the_first_is_handled_is_ignored() -> None:
    worker = Worker()
    quit_once(worker)
    os.kill(os.getpid(), signal.SIGINT)
    assert worker.quits == [signal.SIGINT]
    os.kill(os.getpid(), signal.SIGQUIT)  # and any later one
    assert worker.quits == [signal.SIGINT]


@pytest.mark.usefixtures("restored_quit_handlers")
def test_without_it_the_handler_runs_again_inside_itself() -> None:
    """What ``quit_once`` prevents, shown with the same worker and plain handlers."""
    worker = Worker()
    signal.signal(signal.SIGINT, worker.handle_quit)
    signal.signal(signal.SIGQUIT, worker.handle_quit)
    os.kill(os.getpid(), signal.SIGINT)
    assert worker.quits == [signal.SIGINT, signal.SIGQUIT]
