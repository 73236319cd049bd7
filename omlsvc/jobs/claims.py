"""What a runner holds while it works on a run: a :class:`Claim` on a key range (leased to it until
the lease runs out), the renewal of that lease while a long computation runs, and the runner's
counters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from omlsvc.core.errors import OmlError
from omlsvc.db.transactions import Transactions
from omlsvc.jobs.store import JobStore


@dataclass
class RunnerStats:
    chunks: int = 0
    rows: int = 0
    takeovers: int = 0
    lost_leases: int = 0
    runs_ended: int = 0
    claimed_runs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Claim:
    """A key range of a run leased to this runner: the rows with ``lo_key < key <= hi_key``."""

    run_id: str
    seq: int
    lo_key: str | None
    hi_key: str
    #: the range's rows, when the claim read them (a fresh claim); None: read them by key range.
    rows: list[Any] | None = field(default=None, compare=False, repr=False)


@contextmanager
def renewing_lease(
    transactions: Transactions, claim: Claim, runner_id: str, lease_s: float, clock: Callable[[], datetime]
) -> Iterator[None]:
    """Renew the claim's lease every third of ``lease_s`` while the block runs: computing a
    monitoring run may take longer than one lease, and a live runner must not lose it."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease_s / 3):
            try:
                with transactions(write=True) as uow:
                    lease = clock() + timedelta(seconds=lease_s)
                    if JobStore(uow.connection).renew_chunk(claim.run_id, claim.seq, runner_id, lease):
                        uow.commit()
            except (DBAPIError, OmlError):  # the write at the end finds out whether the lease held
                continue

    thread = threading.Thread(target=renew, name=f"lease-{claim.run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
