"""Deferred metric writes (:mod:`omlsvc.metric_writes`): what a request records reaches
``prometheus_client`` exactly, in bulk, a fraction of a second later, or at once on a read."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from omlsvc.metric_writes import DeferredWrites

BUCKETS = (0.001, 0.01, 0.1, 1.0)
BOUNDS = (*BUCKETS, math.inf)
AMOUNTS = [0.0, 0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 30.0, 0.001]


def families(prefix: str) -> tuple[CollectorRegistry, Counter, Histogram]:
    registry = CollectorRegistry()
    counter = Counter(f"{prefix}_rows", "Rows.", ["deployment"], registry=registry)
    histogram = Histogram(f"{prefix}_seconds", "Seconds.", ["deployment"], buckets=BUCKETS, registry=registry)
    return registry, counter, histogram


def exposition(registry: CollectorRegistry) -> list[str]:
    """The scrape's sample lines (``_created`` timestamps differ between registries and are dropped)."""
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if not line.startswith("#") and "_created" not in line]


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_bulk_writes_give_the_very_scrape_that_one_write_per_value_gives() -> None:
    direct_registry, direct_counter, direct_histogram = families("m")
    deferred_registry, deferred_counter, deferred_histogram = families("m")
    writes = DeferredWrites(interval_s=60.0)
    add = writes.counter(deferred_counter.labels("house"))
    observe = writes.histogram(deferred_histogram.labels("house"), BOUNDS)
    for amount in AMOUNTS:
        direct_counter.labels("house").inc(3)
        direct_histogram.labels("house").observe(amount)
        add(3)
        observe(amount)

    assert exposition(deferred_registry) != exposition(direct_registry)  # nothing written yet
    writes.flush()
    assert exposition(deferred_registry) == exposition(direct_registry)


def test_values_reach_prometheus_within_the_interval_without_any_read() -> None:
    registry, counter, histogram = families("late")
    writes = DeferredWrites(interval_s=0.02, linger_s=60.0)
    add = writes.counter(counter.labels("house"))
    observe = writes.histogram(histogram.labels("house"), BOUNDS)
    add(7)
    observe(0.05)

    assert wait_for(lambda: registry.get_sample_value("late_rows_total", {"deployment": "house"}) == 7)
    assert wait_for(lambda: registry.get_sample_value("late_seconds_count", {"deployment": "house"}) == 1)
    assert registry.get_sample_value("late_seconds_bucket", {"deployment": "house", "le": "0.01"}) == 0
    assert registry.get_sample_value("late_seconds_bucket", {"deployment": "house", "le": "0.1"}) == 1


def flushers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "omlsvc-metric-writes"]


def test_the_flusher_thread_ends_when_idle_and_the_next_value_starts_another() -> None:
    registry, counter, _ = families("idle")
    writes = DeferredWrites(interval_s=0.01, linger_s=0.05)
    add = writes.counter(counter.labels("house"))
    before = set(flushers())
    add()
    assert wait_for(lambda: not set(flushers()) - before), "the flusher should end once idle"
    assert registry.get_sample_value("idle_rows_total", {"deployment": "house"}) == 1

    add(2)
    assert wait_for(lambda: registry.get_sample_value("idle_rows_total", {"deployment": "house"}) == 3)


def test_concurrent_requests_lose_no_count() -> None:
    registry, counter, histogram = families("busy")
    writes = DeferredWrites(interval_s=0.001, linger_s=60.0)
    add = writes.counter(counter.labels("house"))
    observe = writes.histogram(histogram.labels("house"), BOUNDS)

    def requests() -> None:
        for _ in range(5000):
            add()
            observe(0.002)

    threads = [threading.Thread(target=requests) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writes.flush()
    assert registry.get_sample_value("busy_rows_total", {"deployment": "house"}) == 20000
    assert registry.get_sample_value("busy_seconds_bucket", {"deployment": "house", "le": "0.01"}) == 20000
    assert registry.get_sample_value("busy_seconds_bucket", {"deployment": "house", "le": "0.001"}) == 0


def test_a_nan_goes_to_prometheus_client_as_it_is() -> None:
    registry, _, histogram = families("nan")
    writes = DeferredWrites(interval_s=60.0)
    observe = writes.histogram(histogram.labels("house"), BOUNDS)
    observe(float("nan"))
    count = registry.get_sample_value("nan_seconds_count", {"deployment": "house"})
    assert count == 0  # prometheus_client counts a NaN in no bucket; its sum turns NaN
    assert math.isnan(registry.get_sample_value("nan_seconds_sum", {"deployment": "house"}) or 0.0)


def test_a_histogram_whose_buckets_differ_is_written_one_value_at_a_time() -> None:
    registry, _, histogram = families("other")
    writes = DeferredWrites(interval_s=60.0)
    observe = writes.histogram(histogram.labels("house"), (0.5, math.inf))  # not its buckets
    observe(0.2)
    assert registry.get_sample_value("other_seconds_count", {"deployment": "house"}) == 1  # at once


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_starts_from_nothing_and_can_record() -> None:
    """The parent writes what was pending at the fork; the child neither writes it again nor
    inherits a lock or a flusher it does not have."""
    registry, counter, _ = families("fork")
    writes = DeferredWrites(interval_s=60.0)
    add = writes.counter(counter.labels("house"))
    add(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it writes of its own, then leave without cleanup
        try:
            writes.flush()
            inherited = registry.get_sample_value("fork_rows_total", {"deployment": "house"})
            add(2)
            writes.flush()
            own = registry.get_sample_value("fork_rows_total", {"deployment": "house"})
            os.write(write, f"{inherited} {own}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        inherited, own = answer.read().split()
    os.waitpid(pid, 0)
    assert (float(inherited), float(own)) == (0.0, 2.0)
    writes.flush()
    assert registry.get_sample_value("fork_rows_total", {"deployment": "house"}) == 5
