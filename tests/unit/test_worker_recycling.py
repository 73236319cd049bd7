"""A worker that leaves to be recycled closes its listening sockets from inside a turn of gthread's
event loop. A listener that became readable in that same turn still has its event dispatched to
``accept`` afterwards: that late ``accept`` must find nothing, not fail on the closed socket, which
ended the worker (exit code 255) and reset every connection it had taken."""

from __future__ import annotations

import os
import selectors
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.sock import TCPSocket
from gunicorn.workers.gthread import ThreadWorker

from omlsvc.gunicorn_conf import _leave


@pytest.fixture
def worker() -> Iterator[ThreadWorker]:
    """gunicorn's own gthread worker on a loopback listener, set up as its ``init_process`` does,
    without running its loop: the test turns the loop by hand."""
    config = Config()
    log = Logger(config)
    listener = TCPSocket(("127.0.0.1", 0), config, log)
    worker = ThreadWorker(0, os.getpid(), [listener], None, 30, config, log)
    worker.tpool = worker.get_thread_pool()
    worker.poller = selectors.DefaultSelector()
    worker.method_queue.init()
    worker.set_accept_enabled(True)
    try:
        yield worker
    finally:
        worker.tpool.shutdown(wait=True)
        worker.method_queue.run_callbacks(None)  # finish_request closes what the threads served
        worker.tmp.close()
        worker.poller.close()
        worker.method_queue.close()
        for each in worker.sockets:
            each.close()


def test_a_listener_event_of_the_turn_that_closed_it_finds_nothing(
    worker: ThreadWorker, tmp_path: Path
) -> None:
    (listener,) = worker.sockets
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    events = worker.poller.select(timeout=5)  # one turn: the listener is readable
    assert [key.fileobj for key, _ in events] == [listener]

    lock = os.open(tmp_path / "recycle.lock", os.O_RDWR | os.O_CREAT, 0o600)
    _leave(worker, lock)  # the recycling callback runs first in this turn
    client.close()  # (its thread then ends at once instead of waiting for a request)
    for key, _ in events:  # then gthread dispatches the rest of the turn
        key.data(key.fileobj)

    assert not worker.alive
    assert worker.nr_conns == 1  # the queued connection was taken before the close, once
    with pytest.raises(ConnectionRefusedError):  # and nothing listens on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=1)
