"""The service's one notion of "now": naive UTC, as every timestamp column stores it.

Services take a clock as a constructor parameter with this as the default, so tests can pass a fake.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
