"""The last step of validation: run the model once on a dummy batch, within limits.

A graph can be valid and still never finish (a Loop with a constant trip count of 10^12) or
allocate without bound (ConstantOfShape of a constant [100000, 100000]). Running it once on the
batch a warm-up uses (one row of zeros, empty strings) shows such a static bomb at upload, where it
costs a 400 instead of a worker. The run has a wall-clock limit (``RunOptions.terminate`` from a
watchdog); in production it happens in the isolated validation child, whose CPU time and address
space are limited as well (``omlsvc.repository.isolation``), so a single node that cannot be
interrupted still ends.

Bombs that depend on the input's values (a trip count read from the input) pass here: the scoring
time limit and the workers' memory limit catch those.

Only running out of time or memory is a problem: a model may legitimately refuse zeros (an encoder
of unknown categories), and then it still serves real requests.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import onnxruntime

from omlsvc.core.errors import OmlError, ScoringTimeout
from omlsvc.core.signature import ScoringSpec
from omlsvc.repository.inspect import ALLOCATION_FAILURE, memory_problem
from omlsvc.scoring.inputs import InputConverter
from omlsvc.scoring.watchdog import RunWatchdog

TRIAL = "running the model once on a dummy batch"


def trial_run_problems(onnx_path: Path, spec: ScoringSpec, limit_s: float) -> list[str]:
    """What is wrong with running the model at ``onnx_path`` once on a dummy batch (usually nothing).

    Loading failures are not reported here (inspection reports them, more clearly); a load that runs
    out of memory is (constant folding computes constant subgraphs while loading).
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # CPU time is limited: one thread keeps it close to wall time
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    try:
        session = onnxruntime.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except MemoryError:
        return [memory_problem("loading the model")]
    except Exception as exc:
        return [memory_problem("loading the model")] if ALLOCATION_FAILURE.search(str(exc)) else []
    try:
        # a dummy batch needs no pixels: a mean file (issue 16) is not read for it
        plain = spec if spec.image is None else replace(spec, image=replace(spec.image, mean_file=None))
        feeds = InputConverter(plain).dummy_feeds()
    except OmlError:
        return []  # the spec's own problems were reported by the function rules
    watchdog = RunWatchdog(_quiet_run_options)
    try:
        watchdog.run(limit_s, lambda run_options: session.run(None, feeds.arrays, run_options))
    except ScoringTimeout:
        return [
            f"{TRIAL} did not finish within {limit_s:g} s (OMLSVC_VALIDATION_CPU_SECONDS): a Loop or "
            "another computation in the graph does not end in reasonable time"
        ]
    except MemoryError:
        return [memory_problem(TRIAL)]
    except Exception as exc:
        if ALLOCATION_FAILURE.search(str(exc)):
            return [memory_problem(TRIAL)]
    return []


def _quiet_run_options() -> onnxruntime.RunOptions:
    options = onnxruntime.RunOptions()
    options.log_severity_level = 4
    return options
