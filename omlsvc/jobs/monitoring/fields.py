"""The values of monitoring ``jobProperties`` that no scoring job has, each read and checked alone.

Each reader takes the raw object (and the field's name where several fields share it) and the list of
problems: a bad value adds one problem naming the field and reads as unset, so that
:func:`omlsvc.jobs.monitoring.properties.parse_monitoring` reports every problem at once.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from omlsvc.jobs.properties import _identifiers


def unquote(name: str) -> str:
    """Oracle's examples quote identifiers inside the strings (``"\\"GENDER\\""``): strip one level."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1]
    return name


def column_names(
    raw: dict[str, Any], name: str, problems: list[str], *, limit: int, required: bool = False
) -> tuple[str, ...] | None:
    """At most ``limit`` distinct column names, each unquoted once (:func:`unquote`)."""
    value = raw.get(name)
    if value is None:
        if required:
            problems.append(f"{name} is required")
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        if len(value) > limit:
            problems.append(f"{name} names {len(value)} columns; at most {limit} are allowed")
            return None
        value = [unquote(item) for item in value]
    return _identifiers({name: value}, name, problems, non_empty=True)


def model_list(raw: dict[str, Any], problems: list[str], limit: int) -> tuple[str, ...]:
    value = raw.get("modelList")
    if value is None:
        problems.append("modelList is required")
        return ("",)
    if not isinstance(value, list) or not all(
        isinstance(item, str) and 0 < len(item) <= 36 for item in value
    ):
        problems.append("modelList must be an array of model ids")
        return ("",)
    if not value:
        problems.append("modelList must name at least one model")
        return ("",)
    if len(value) > limit:
        problems.append(f"modelList names {len(value)} models; at most {limit} are allowed")
        return ("",)
    if len(set(value)) != len(value):
        problems.append("modelList names a model twice")
        return ("",)
    return tuple(value)


def label(raw: dict[str, Any], name: str, problems: list[str]) -> str | None:
    """A class label or outcome value: text, or a number (kept as its text, ``1`` not ``1.0``)."""
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int | float) and math.isfinite(value):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and 0 < len(value) <= 4000:
        return value
    problems.append(f"{name} must be a string or a number")
    return None


def number(raw: dict[str, Any], name: str, problems: list[str]) -> float | None:
    value = raw.get(name)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value.strip())
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{name} must be a finite number")
        return None
    return float(value)


def bin_count(raw: dict[str, Any], name: str, problems: list[str]) -> int | None:
    value = raw.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 1000:
        problems.append(f"{name} must be an integer from 2 to 1000")
        return None
    return value
