"""The body of ``PUT /omlmod/v1/deployment/{uri}``, checked: what to put behind a live URI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from omlsvc.core.errors import InvalidInput

#: "canary" absent from the body (it stays as it is), as opposed to ``"canary": null`` (removed).
KEEP = "keep"
REMOVE = "remove"
SET = "set"


@dataclass(frozen=True)
class ChangeRequest:
    """``model_id``: the new main model (None: it stays); ``force``: skip the compatibility check;
    ``canary``: :data:`KEEP`, :data:`REMOVE` or :data:`SET` (then ``canary_model_id`` and
    ``canary_percent``); ``promote``: the canary becomes the main model."""

    model_id: str | None = None
    force: bool = False
    canary: str = KEEP
    canary_model_id: str | None = None
    canary_percent: int | None = None
    promote: bool = False


def parse_change(body: Mapping[str, object]) -> ChangeRequest:
    problems: list[str] = []
    unknown = sorted(set(body) - {"modelId", "force", "canary", "promote"})
    if unknown:
        problems.append(f"unknown fields: {', '.join(repr(k[:40]) for k in unknown[:5])}.")
    model_id = body.get("modelId")
    if model_id is not None and (not isinstance(model_id, str) or not 0 < len(model_id) <= 64):
        problems.append("modelId must be a model id (a string).")
    force, promote = body.get("force", False), body.get("promote", False)
    if not isinstance(force, bool) or not isinstance(promote, bool):
        problems.append("force and promote must be true or false.")
    canary, canary_id, percent = _canary(body, problems)
    if promote and (model_id is not None or canary != KEEP):
        problems.append("promote makes the canary the main model: send it without modelId or canary.")
    if model_id is None and canary == KEEP and not promote:
        problems.append("Send modelId (a new model), canary (set or null) or promote: true.")
    if problems:
        raise InvalidInput(" ".join(problems), details=problems)
    return ChangeRequest(
        model_id=model_id,  # type: ignore[arg-type]
        force=bool(force),
        canary=canary,
        canary_model_id=canary_id,
        canary_percent=percent,
        promote=bool(promote),
    )


def _canary(body: Mapping[str, object], problems: list[str]) -> tuple[str, str | None, int | None]:
    if "canary" not in body:
        return KEEP, None, None
    value = body["canary"]
    if value is None:
        return REMOVE, None, None
    message = 'canary must be null or {"modelId": "...", "percent": an integer from 1 to 99}.'
    if not isinstance(value, Mapping) or set(value) - {"modelId", "percent"}:
        problems.append(message)
        return KEEP, None, None
    model_id, percent = value.get("modelId"), value.get("percent")
    if (
        not isinstance(model_id, str)
        or not 0 < len(model_id) <= 64
        or not isinstance(percent, int)
        or isinstance(percent, bool)
        or not 0 < percent < 100
    ):
        problems.append(message)
        return KEEP, None, None
    return SET, model_id, percent
