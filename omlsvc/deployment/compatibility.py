"""Whether a model can take over a URI from another without breaking the clients that score it."""

from __future__ import annotations

from omlsvc.core.signature import ScoringSpec, TensorInfo
from omlsvc.repository.rows import ModelRecord


def incompatibilities(serving: ModelRecord, replacement: ModelRecord) -> list[str]:
    """Why the clients of ``serving`` could not score ``replacement`` (empty: they can).

    The same mining function and kind of model (tabular or image); the same input names, each of the
    same kind and element type, with shapes of the same rank whose fixed dimensions agree (a dynamic
    dimension, -1, accepts any). Outputs may differ: the answer has the mining function's form.
    """
    problems: list[str] = []
    if serving.function != replacement.function:
        problems.append(f"mining function {replacement.function} instead of {serving.function}")
    old, new = ScoringSpec.from_json(serving.spec_json), ScoringSpec.from_json(replacement.spec_json)
    if old.model_type is not new.model_type:
        problems.append(f"model type {new.model_type.value} instead of {old.model_type.value}")
    old_inputs = {t.name: t for t in old.inputs}
    new_inputs = {t.name: t for t in new.inputs}
    for name in sorted(new_inputs.keys() - old_inputs.keys()):
        problems.append(f"input {name!r} that clients do not send")
    for name in sorted(old_inputs.keys() - new_inputs.keys()):
        problems.append(f"no input {name!r}")
    for name in sorted(old_inputs.keys() & new_inputs.keys()):
        problem = _input_problem(old_inputs[name], new_inputs[name])
        if problem:
            problems.append(f"input {name!r}: {problem}")
    return problems


def _input_problem(old: TensorInfo, new: TensorInfo) -> str | None:
    if old.kind is not new.kind or old.element_type != new.element_type or old.key_type != new.key_type:
        return f"{new.kind.value} of {new.element_type} instead of {old.kind.value} of {old.element_type}"
    if old.shape is None or new.shape is None:
        return None
    if len(old.shape) != len(new.shape) or any(
        a != b and a != -1 and b != -1 for a, b in zip(old.shape, new.shape, strict=True)
    ):
        return f"shape {list(new.shape)} instead of {list(old.shape)}"
    return None
