"""Which model of a deployment answers a score request: the main model, or its canary for a share.

Without a route key each request draws at random; with one (``X-Omlsvc-Route-Key``) the key is hashed
with the URI into one of 100 buckets, so one key always meets the same model while the percent stays,
in every worker of every host.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from omlsvc.scoring.source import ModelToScore, ScoringTarget

BUCKETS = 100


def bucket_of(uri: str, route_key: str) -> int:
    """0-99, the same for the same URI and key everywhere (not Python's salted ``hash``)."""
    digest = hashlib.sha256(f"{uri}\0{route_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def choose_model(
    target: ScoringTarget, route_key: str | None, draw: Callable[[], float] = random.random
) -> ModelToScore:
    """The main model, or the canary for ``target.canary_percent`` percent of requests."""
    if target.canary is None or target.canary_percent <= 0:
        return target.model
    if route_key is None:
        to_canary = draw() * BUCKETS < target.canary_percent
    else:
        to_canary = bucket_of(target.uri, route_key) < target.canary_percent
    return target.canary if to_canary else target.model
