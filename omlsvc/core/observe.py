"""What the capabilities report while they work, for whoever listens (the metrics of
:mod:`omlsvc.metrics`, wired in by :mod:`omlsvc.wiring`).

The capabilities call an :class:`Observer` they are given and know nothing of how (or whether) it is
recorded; the default, :data:`UNOBSERVED`, ignores everything. Labels are bounded by construction:
a deployment's URI, a phase or an outcome from a short fixed list, never a model id or a user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: The phases of one score request, in order. ``queue``: from the request's arrival (at the front
#: proxy when it says so, else at the worker thread) until its rows start being converted.
SCORING_PHASES = ("queue", "preprocess", "run", "format")
#: The kinds of database error counted (SQLAlchemy's DBAPI error classes; anything else is ``other``).
DATABASE_ERROR_KINDS = (
    "disconnect",
    "operational",
    "integrity",
    "programming",
    "data",
    "internal",
    "interface",
    "not_supported",
    "other",
)
#: How a batch scoring run ends.
RUN_OUTCOMES = ("succeeded", "stopped", "failed")


class Observer:
    """Every event the capabilities report; each method does nothing here."""

    def scoring_phase(self, deployment: str, phase: str, seconds: float) -> None:
        """One phase (:data:`SCORING_PHASES`) of a score request on ``deployment`` took ``seconds``."""

    def scored(self, deployment: str, rows: int, variant: str = "main", *, images: bool = False) -> None:
        """A score request on ``deployment`` answered ``rows`` results, from its main model or its
        canary (``variant``); each result is an image when ``images`` (an image model), else a row."""

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

    def database_error(self, kind: str) -> None:
        """A statement or a connection failed in the database (:data:`DATABASE_ERROR_KINDS`)."""


UNOBSERVED = Observer()


# -- what has been observed, read back (the Open Inference Protocol's statistics extension) ----------


@dataclass(frozen=True)
class PhaseTotal:
    """How often a phase ran and how long it took altogether (seconds)."""

    count: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class ScoringTotals:
    """A deployment's score requests so far, across the workers of the host: those that reached a
    model, those answered, the rows scored and the cumulative time of each phase
    (:data:`SCORING_PHASES`). The same numbers the metrics scrape exposes."""

    requests: int = 0
    answered: int = 0
    rows: int = 0
    phases: Mapping[str, PhaseTotal] = field(default_factory=dict)
