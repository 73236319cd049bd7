"""Login throttling: how long a user name or client address waits after failed logins, and how many
password checks one worker runs at once.

A password check is a 16 MiB scrypt, deliberately slow. Two things keep a guessing flood from
turning that into a denial of service:

- **Back-off per key.** Every failed login counts against ``user:NAME`` and ``addr:IP`` (rows in
  ``login_failures``, shared by every worker and instance). After ``free_attempts`` failures a key
  waits 1 s, then 2 s, 4 s, ... up to ``max_delay_s`` before its next attempt; an attempt while a key
  waits is refused before anything is hashed. A success forgets both keys; a key without a failure
  for :attr:`BackOff.forget_after_s` is forgotten too.
- **Bounded hashing per worker.** At most ``slots`` checks run at once in a worker; a login that
  finds them taken is refused at once (429, retry in a second) instead of occupying a request thread
  that scoring needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from omlsvc.core.errors import TooManyRequests

#: The first wait after the free attempts; each further failure doubles it.
BASE_DELAY_S = 1
#: Failures are forgotten after this long without one (or twice the longest wait, if that is more).
FORGET_AFTER_S = 3600
#: Longest client address kept in a key (IPv6 with a zone fits); longer ones are cut.
MAX_ADDRESS_CHARS = 100


@dataclass(frozen=True)
class BackOff:
    free_attempts: int
    max_delay_s: int

    def delay_after(self, failures: int) -> int:
        """Seconds a key waits after its ``failures``-th failure in a row."""
        if failures < self.free_attempts:
            return 0
        doublings = failures - self.free_attempts
        if doublings >= self.max_delay_s.bit_length():
            return self.max_delay_s
        return min(self.max_delay_s, BASE_DELAY_S << doublings)

    @property
    def forget_after_s(self) -> int:
        """Failures older than this no longer count; always longer than the longest wait."""
        return max(FORGET_AFTER_S, 2 * self.max_delay_s)


def throttle_keys(username: str | None, address: str | None) -> tuple[str, ...]:
    """The keys a login attempt counts against, in one fixed order (rows are locked in this order).

    ``username`` is None for a name that cannot exist (fails the user name pattern): the address
    alone throttles those.
    """
    keys = []
    if address:
        keys.append("addr:" + address[:MAX_ADDRESS_CHARS])
    if username:
        keys.append("user:" + username)
    return tuple(sorted(keys))


class PasswordChecks:
    """The password checks this worker may run at once. Thread-safe; never waits for a slot."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for one check, or raise :class:`TooManyRequests` at once when all are taken."""
        if not self._semaphore.acquire(blocking=False):
            raise TooManyRequests("Too many logins are being checked right now; retry in a second.")
        try:
            yield
        finally:
            self._semaphore.release()
