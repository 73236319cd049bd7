"""The batch scoring runner: takes the steps of :mod:`omlsvc.jobs.runs` in rounds, until idle (tests,
``omlsvc jobs run --wait``, ``omlsvc jobs worker --once``) or until told to stop (``omlsvc jobs
worker``, the thread of :mod:`omlsvc.jobs.background`), waking up to look again when idle.

It reaches users and models only through the services it is given (``owners``: the auth service;
``models``: the repository service; ``scoring``: the scoring service) and its own bookkeeping through
the :class:`~omlsvc.db.transactions.Transactions` it is given.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Unavailable
from omlsvc.core.observe import UNOBSERVED, Observer
from omlsvc.db.transactions import Transactions
from omlsvc.jobs.claims import Claim, RunnerStats
from omlsvc.jobs.context import RunContexts
from omlsvc.jobs.directory import JobOwners, ModelRecords
from omlsvc.jobs.monitoring.properties import Limits
from omlsvc.jobs.monitoring.runs import MonitorRuns
from omlsvc.jobs.options import RunnerOptions
from omlsvc.jobs.runs import RunSteps
from omlsvc.scoring.service import ScoringService

__all__ = ["Claim", "Runner", "RunnerOptions", "RunnerStats", "default_runner_id"]

log = logging.getLogger("omlsvc.jobs")

#: While chunks follow one another, the rest of a round (the other steps, the has-work probe,
#: schedules, take-overs, finishing runs: a short transaction each) is taken at most this often
#: (or every ``poll_s``, if shorter): on a server database each costs about as much as a chunk's own
#: bookkeeping. A lease runs for minutes, so a take-over waits for it no longer than before.
HOUSEKEEPING_S = 0.5


def default_runner_id() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Runner(RunSteps):
    def __init__(
        self,
        transactions: Transactions,
        scoring: ScoringService,
        owners: JobOwners,
        models: ModelRecords,
        options: RunnerOptions | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        runner_id: str | None = None,
        observer: Observer = UNOBSERVED,
        monitor_limits: Limits | None = None,
        steps: Sequence[Callable[[], bool]] = (),
    ) -> None:
        """``steps``: more work this runner takes each round besides job runs (the task step of
        :mod:`omlsvc.tasks.worker`), each returning whether it moved."""
        self._steps = tuple(steps)
        #: the last round scored a chunk: the next only claims, until housekeeping is due.
        self._streak = False
        self._housekeeping_due = 0.0
        #: the next chunk, claimed while the last one was scored and written: taken up first.
        self._ahead: Claim | None = None
        #: claim ahead only where the database works in a process of its own: SQLite works in this
        #: one and serialises writers, so a claim ahead would only take turns with the chunk's write.
        self._claims_ahead = transactions.engine.dialect.name != "sqlite"
        super().__init__(
            transactions,
            RunContexts(transactions, scoring, owners, models),
            options or RunnerOptions(),
            clock=clock,
            runner_id=runner_id or default_runner_id(),
            observer=observer,
            monitor=MonitorRuns(transactions, scoring, owners, models, monitor_limits or Limits()),
        )

    def work_once(self) -> bool:
        """One round of every step; True when something moved (so the caller should not idle).

        Right after a chunk, a round only scores the next one (claimed meanwhile, see
        :meth:`_score`), until housekeeping is due (:data:`HOUSEKEEPING_S`) or nothing is claimed;
        then it takes every step, take-overs before the chunk claimed ahead."""
        if self._streak and time.monotonic() < self._housekeeping_due:
            claim = self._take_ahead() or self.claim_next()[0]
            if claim is not None:
                self._score(claim)
                return True
        self._streak = False
        self._housekeeping_due = time.monotonic() + min(HOUSEKEEPING_S, self.options.poll_s)
        stepped = False
        for step in self._steps:
            stepped = step() or stepped
        if self._ahead is None and not self.has_work():
            self._busy = False
            return stepped
        progressed = self.schedule_due()
        claim = self.take_over_expired() or self._take_ahead()
        if claim is None:
            claim, moved = self.claim_next()
            progressed = progressed or moved
        if claim is not None:
            self._score(claim)
            progressed = self._streak = True
        return self.finish_runs() or progressed or stepped

    def _take_ahead(self) -> Claim | None:
        claim, self._ahead = self._ahead, None
        return claim

    def _score(self, claim: Claim) -> None:
        """Score and write ``claim``, and meanwhile claim the next chunk on a thread of its own, so
        that its read (with the claim's own statements) overlaps this chunk's scoring and writing
        instead of following them. That claim is an ordinary one (leased to this runner in its own
        transaction, read as the job's role after the same checks) and the next round takes it up,
        whatever became of this chunk (a run that ended meanwhile took its chunk rows along, so the
        checkpoint of a chunk claimed ahead of its end writes nothing). One chunk is claimed ahead
        at most: none while one waits (after a take-over), and none on SQLite."""
        if self._ahead is not None or not self._claims_ahead:
            self.process(claim)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="claim-ahead") as pool:
            ahead = pool.submit(self.claim_next)
            try:
                self.process(claim)
            except BaseException:
                # the chunk's own failure is the one raised; the claim's, if it failed too, is
                # logged here rather than lost behind it
                failure = ahead.exception()  # once the claim is done, like the result below
                if failure is None:
                    self._ahead = ahead.result()[0]
                else:
                    self._ahead = None
                    self._log_failure(failure, "claiming the next chunk ahead")
                raise
            self._ahead, _ = ahead.result()

    def run_until_idle(self, timeout_s: float = 120.0) -> None:
        """Work until nothing is left to do now (tests, ``omlsvc jobs run --wait``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.work_once():
                if not self._busy and not self.chunks_pending():
                    return
                time.sleep(self.options.busy_retry_s if self._busy else min(self.options.poll_s, 0.2))
        raise TimeoutError(f"the runner still had work after {timeout_s} s")

    def run_forever(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; database outages and unexpected errors are logged and waited out."""
        log.info("job runner %s started", self.runner_id)
        while not stop.is_set():
            if not self._logging_failures(self.work_once):
                stop.wait(self.options.busy_retry_s if self._busy else self.options.poll_s)
        ahead = self._take_ahead()
        if ahead is not None:  # claimed already: finish it rather than leave it to a take-over
            self._logging_failures(functools.partial(self.process, ahead))
        log.info("job runner %s stopped", self.runner_id)

    def _logging_failures(self, step: Callable[[], object]) -> bool:
        """Whether ``step()`` moved; a database outage or an unexpected error is logged and counts as
        no progress."""
        try:
            return bool(step())
        except Exception as exc:
            self._log_failure(exc)
        return False

    def _log_failure(self, exc: BaseException, doing: str | None = None) -> None:
        """A database outage by its message; anything else by its type and where it happened, never
        its message, which may quote a value read from a user's table."""
        prefix = f"job runner {self.runner_id}" + (f", {doing}" if doing else "")
        if isinstance(exc, Unavailable):
            log.warning("%s: %s", prefix, exc.message)
            return
        where = "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s: unexpected %s\n%s", prefix, type(exc).__name__, where)
