"""The vocabulary the function rules share: the choice they make and how they look at outputs.

Every check that can fail adds one problem (a sentence a client reads in the 400 response) and
says so by its return value, so that a rule can stop at its first failure while validation as a
whole goes on and reports everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omlsvc.core.signature import LabelSource, TensorInfo, ValueKind
from omlsvc.repository.inspect import FLOAT_TYPES, ModelInfo, describe_shape

_KIND_NAMES = {
    ValueKind.TENSOR: "a tensor",
    ValueKind.SEQUENCE_OF_MAPS: "a sequence of maps",
    ValueKind.OTHER: "neither a tensor nor a sequence of maps",
}


@dataclass(frozen=True)
class Choice:
    """The outcome of one function's rules: which output carries the result and where labels come from."""

    output: str
    width: int | None = None
    label_source: LabelSource | None = None
    label_output: str | None = None
    labels: tuple[str, ...] | None = None
    cluster_measure: str | None = None


def named_output(info: ModelInfo, name: str, field: str, problems: list[str]) -> TensorInfo | None:
    """The output called exactly ``name`` (names are case-sensitive), or None with a problem added."""
    for output in info.outputs:
        if output.name == name:
            return output
    near = [output.name for output in info.outputs if output.name.casefold() == name.casefold()]
    hint = f" (did you mean {near[0]!r}? output names are case-sensitive)" if near else ""
    problems.append(
        f"{field} names {name!r}, which is not an output of the model{hint}; "
        f"its outputs are {names(info.outputs)}"
    )
    return None


def is_float_matrix(output: TensorInfo, role: str, columns: str, problems: list[str]) -> bool:
    """Whether ``output`` is a float/double tensor ``[batch, columns]``; adds the reason when not."""
    if output.kind is not ValueKind.TENSOR or output.element_type not in FLOAT_TYPES:
        problems.append(f"{role} {output.name!r} must be a float or double tensor, not {describe(output)}")
        return False
    if output.shape is None or len(output.shape) != 2:
        problems.append(
            f"{role} {output.name!r} has shape {describe_shape(output.shape)}; it must be [batch, {columns}]"
        )
        return False
    return True


def label_count_matches(
    labels: Sequence[str], source: str, output: TensorInfo, width: int | None, problems: list[str]
) -> bool:
    """Whether there is one label per column of ``output`` (always, when its width is dynamic)."""
    if width is None or len(labels) == width:
        return True
    problems.append(f"{source} {len(labels)} labels but the output {output.name!r} has {width} columns")
    return False


def column_count(output: TensorInfo) -> int | None:
    """The fixed second dimension of a ``[batch, n]`` tensor, or None when it is dynamic."""
    if output.shape is None or len(output.shape) < 2 or output.shape[1] < 0:
        return None
    return output.shape[1]


def describe(value: TensorInfo) -> str:
    """What a value is, for a problem's text: ``a FLOAT tensor``, ``a sequence of maps``."""
    if value.kind is ValueKind.TENSOR:
        return f"a {value.element_type} tensor"
    return _KIND_NAMES[value.kind]


def names(outputs: Sequence[TensorInfo]) -> str:
    """The outputs' names, quoted and comma-separated."""
    return ", ".join(repr(output.name) for output in outputs)
