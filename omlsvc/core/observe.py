"""What the capabilities report while they work, for whoever listens (the metrics of
:mod:`omlsvc.metrics`, wired in by :mod:`omlsvc.wiring`).

The capabilities call an :class:`Observer` they are given and know nothing of how (or whether) it is
recorded; the default, :data:`UNOBSERVED`, ignores everything. Labels are bounded by construction:
a deployment's URI, a phase or an outcome from a short fixed list, never a model id or a user.
"""

from __future__ import annotations

#: The phases of one score request, in order.
SCORING_PHASES = ("preprocess", "run", "format")
#: How a batch scoring run ends.
RUN_OUTCOMES = ("succeeded", "stopped", "failed")


class Observer:
    """Every event the capabilities report; each method does nothing here."""

    def scoring_phase(self, deployment: str, phase: str, seconds: float) -> None:
        """One phase (:data:`SCORING_PHASES`) of a score request on ``deployment`` took ``seconds``."""

    def scored(self, deployment: str, rows: int, variant: str = "main") -> None:
        """A score request on ``deployment`` answered ``rows`` results (rows or images), from its
        main model or its canary (``variant``)."""

    def batch_formed(self, deployment: str, rows: int, requests: int) -> None:
        """Dynamic batching merged ``requests`` concurrent score requests on ``deployment`` into one
        model run of ``rows`` rows (or images)."""

    def session_lookup(self, hit: bool) -> None:
        """The worker's session cache was asked for a model: loaded already (hit) or not (miss)."""

    def session_loaded(self, seconds: float) -> None:
        """The worker built a model's session in ``seconds``."""

    def job_run_ended(self, outcome: str) -> None:
        """A batch scoring run ended (:data:`RUN_OUTCOMES`)."""

    def job_rows_written(self, rows: int) -> None:
        """A batch scoring run wrote ``rows`` result rows (one checkpointed chunk)."""

    def login_failed(self) -> None:
        """A password login was refused (unknown user or wrong password)."""

    def login_throttled(self) -> None:
        """A password login was refused unchecked: too many failures before it."""


UNOBSERVED = Observer()
