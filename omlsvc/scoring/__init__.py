"""Scoring: request records or image files -> onnxruntime -> ``scoringResults``.

Pure: numpy, onnxruntime and Pillow only; no SQL, no HTTP, and no other capability's code. The
score use case (:class:`~omlsvc.scoring.service.ScoringService`) finds deployments and model bytes
through a narrow :class:`~omlsvc.scoring.source.ModelSource` the wiring plugs in, gets a
:class:`~omlsvc.scoring.sessions.LoadedModel` from the worker's
:class:`~omlsvc.scoring.sessions.SessionCache` and calls its ``model.score_records`` or
``model.score_images``.
"""

from __future__ import annotations

from omlsvc.scoring.images import ImageOptions, ImagePreprocessor
from omlsvc.scoring.inputs import Feeds, InputConverter, InputLimits
from omlsvc.scoring.outputs import OutputFormatter
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.session_options import (
    choose_providers,
    default_intra_op_threads,
    detect_gpu_count,
    make_session_options,
)
from omlsvc.scoring.sessions import LoadedModel, SessionCache
from omlsvc.scoring.source import ModelSource, ModelToScore, ScorableModel, ScoringTarget

__all__ = [
    "Feeds",
    "ImageOptions",
    "ImagePreprocessor",
    "InputConverter",
    "InputLimits",
    "LoadedModel",
    "ModelSource",
    "ModelToScore",
    "OutputFormatter",
    "PreparedModel",
    "ScorableModel",
    "ScoringTarget",
    "SessionCache",
    "choose_providers",
    "default_intra_op_threads",
    "detect_gpu_count",
    "make_session_options",
]
