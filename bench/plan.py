"""What one run of the scoring bench (``python -m bench``) measures, and what it collected: shared by
the modules that take its measurements and the one that renders them."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Any

ADMIN_PASSWORD = "admin-password-for-bench"


@dataclass(frozen=True)
class Plan:
    workers: int
    threads: int
    seconds: float
    warmup: float
    rounds: int
    tabular_batches: tuple[int, ...]
    cnn_batches: tuple[int, ...]
    concurrency: tuple[int, ...]
    cold_deploys: int
    image_seconds: float
    image_rounds: int
    mlserver: bool
    resnet: bool

    @property
    def intra_op(self) -> int:
        from omlsvc.scoring.session_options import default_intra_op_threads

        return default_intra_op_threads(self.workers)


def make_plan(args: argparse.Namespace) -> Plan:
    quick = args.quick
    return Plan(
        workers=args.workers,
        threads=args.threads,
        seconds=args.seconds or (1.5 if quick else 3.0),
        warmup=0.5 if quick else 1.0,
        rounds=args.rounds or (1 if quick else 3),
        tabular_batches=(1, 64) if quick else (1, 8, 64, 512),
        cnn_batches=(1, 8) if quick else (1, 8, 32),
        concurrency=(1, 4, 16, 64),
        cold_deploys=1 if quick else 3,
        image_seconds=3.0 if quick else 5.0,
        image_rounds=1 if quick else 4,
        mlserver=not args.no_mlserver,
        resnet=not args.no_resnet,
    )


@dataclass
class Results:
    raw: dict[str, Any] = field(default_factory=dict)
    inprocess: dict[str, Any] = field(default_factory=dict)
    http: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, Any] = field(default_factory=dict)
    cold: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
