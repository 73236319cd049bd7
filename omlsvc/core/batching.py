"""Dynamic batching options of a deployment (issue 20): plain values shared by the deployment
service (which validates and stores them), scoring (which merges requests by them), the settings
(the service-wide default) and the OpenAPI documents (which declare the limits)."""

from __future__ import annotations

from dataclasses import dataclass

#: The most rows (or images) one merged run may hold.
MAX_BATCH_SIZE = 1024
#: The longest a request may wait for others to join its run, in milliseconds.
MAX_BATCH_DELAY_MS = 100.0
#: What an empty ``"batching": {}`` means.
DEFAULT_BATCH_SIZE = 32
DEFAULT_BATCH_DELAY_MS = 2.0


@dataclass(frozen=True)
class BatchingOptions:
    """Merge concurrent requests of one deployment in one worker into one model run of at most
    ``max_size`` rows, holding none longer than ``max_delay_ms``; ``max_size`` 1 means never merge."""

    max_size: int = DEFAULT_BATCH_SIZE
    max_delay_ms: float = DEFAULT_BATCH_DELAY_MS

    @property
    def enabled(self) -> bool:
        return self.max_size > 1

    def to_json(self) -> dict[str, int | float]:
        return {"maxBatchSize": self.max_size, "maxDelayMs": self.max_delay_ms}


def service_default(max_size: int, max_delay_ms: float) -> BatchingOptions | None:
    """The batching of deployments that set none (``OMLSVC_BATCH_MAX_SIZE``, ``OMLSVC_BATCH_MAX_DELAY_MS``):
    None when off (a size of 0 or 1); ValueError naming the variable when beyond the limits."""
    if max_size > MAX_BATCH_SIZE:
        raise ValueError(f"OMLSVC_BATCH_MAX_SIZE must be from 0 (off) to {MAX_BATCH_SIZE}, not {max_size}.")
    if not 0 <= max_delay_ms <= MAX_BATCH_DELAY_MS:
        raise ValueError(
            f"OMLSVC_BATCH_MAX_DELAY_MS must be from 0 to {MAX_BATCH_DELAY_MS:g}, not {max_delay_ms:g}."
        )
    return BatchingOptions(max_size, max_delay_ms) if max_size > 1 else None


def parse_batching(value: object, problems: list[str]) -> BatchingOptions | None:
    """``batching`` of a deploy request: absent (None), or ``{"maxBatchSize": 1..MAX_BATCH_SIZE,
    "maxDelayMs": 0..MAX_BATCH_DELAY_MS}`` with either left out for its default. A problem is
    appended to ``problems`` (and None returned)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append('batching must be an object: {"maxBatchSize": n, "maxDelayMs": ms}.')
        return None
    unknown = sorted(str(key) for key in value if key not in ("maxBatchSize", "maxDelayMs"))
    if unknown:
        problems.append(f"batching takes maxBatchSize and maxDelayMs only, not {', '.join(unknown)}.")
        return None
    size = value.get("maxBatchSize", DEFAULT_BATCH_SIZE)
    delay = value.get("maxDelayMs", DEFAULT_BATCH_DELAY_MS)
    ok = True
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
        problems.append(f"batching.maxBatchSize must be an integer from 1 to {MAX_BATCH_SIZE}.")
        ok = False
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_BATCH_DELAY_MS:
        problems.append(
            f"batching.maxDelayMs must be a number of milliseconds from 0 to {MAX_BATCH_DELAY_MS:g}."
        )
        ok = False
    return BatchingOptions(size, float(delay)) if ok else None
