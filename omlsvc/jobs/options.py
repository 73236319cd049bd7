"""The runner's settings: how many rows a chunk holds, how long a lease lasts, how often an idle
runner looks again, and whether ``omlsvc serve`` runs a runner in its own processes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from omlsvc.config import Settings

DEFAULT_CHUNK_ROWS = 10_000
DEFAULT_IMAGE_CHUNK_ROWS = 256
DEFAULT_LEASE_S = 120.0
DEFAULT_POLL_S = 2.0


@dataclass(frozen=True)
class RunnerOptions:
    """``chunk_rows`` is capped by the scoring row limit (``OMLSVC_MAX_SCORE_ROWS``); image models use
    ``image_chunk_rows``. ``lease_s`` is how long a silent runner keeps a chunk before another takes it
    over: longer than scoring one chunk takes, short enough that a killed runner's work resumes soon."""

    chunk_rows: int = DEFAULT_CHUNK_ROWS
    image_chunk_rows: int = DEFAULT_IMAGE_CHUNK_ROWS
    lease_s: float = DEFAULT_LEASE_S
    poll_s: float = DEFAULT_POLL_S
    max_attempts: int = 3
    #: wait before looking again when a claimable run was only momentarily locked by another runner.
    busy_retry_s: float = 0.02


def options_from(settings: Settings) -> RunnerOptions:
    return RunnerOptions(
        chunk_rows=settings.job_chunk_rows, lease_s=float(settings.job_lease_s), poll_s=settings.job_poll_s
    )


def runs_in_process(database_url: str, setting: bool | None) -> bool:
    """``OMLSVC_JOB_RUNNER``: on by default for SQLite (one host, nothing else to run), off for
    server databases, where ``omlsvc jobs worker`` processes scale on their own."""
    if setting is not None:
        return setting
    return make_url(database_url).get_backend_name() == "sqlite"
