"""``jobProperties`` of a ``MODEL_SCORING`` job (spec section 3.3): parsed, checked, echoed.

Parsing reports every problem in one :class:`InvalidInput`. The echo (:meth:`ScoringJobProperties.to_json`)
is what ``GET /jobs/{jobId}`` returns under ``jobRequest.jobProperties``: every field present, unset
optionals ``null``, ``recompute``/``disableJob`` booleans and ``topN`` numbers even when the request
sent strings, as Oracle's service does. It is also the stored form, read back by :meth:`from_json`.

Our extensions, marked as such in the OpenAPI document: ``keyColumnName`` (the column whose order
the input is read in, when the table has no single-column primary key) and ``inputColumnNames``
(the columns that feed the model's inputs, in order, when names and widths do not say it), and
``outputTensor`` (issue 16: score as feature extraction on that value of the graph, a cut model).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from omlsvc.core.errors import InvalidInput
from omlsvc.core.limits import MAX_TENSOR_NAME
from omlsvc.core.patterns import IDENTIFIER, OUTPUT_NAME
from omlsvc.core.signature import ScoringSpec
from omlsvc.core.values import parse_positive_int
from omlsvc.scoring.tensors import cut_spec

MODEL_SCORING = "MODEL_SCORING"
#: The other job types, parsed by :mod:`omlsvc.jobs.monitoring.properties` (spec ``oml-monitoring.md``).
OTHER_JOB_TYPES = ("DATA_MONITORING", "MODEL_MONITORING", "DATA_BIAS")
SERVICE_LEVELS = ("LOW", "MEDIUM", "HIGH")
MAX_JOB_NAME = 128
MAX_DESCRIPTION = 4000
#: Oracle's column limit bounds the output table: S + 2 * topN columns (spec section 14).
MAX_OUTPUT_COLUMNS = 1000

#: The fields every job type has, first in every echo (Oracle's order).
COMMON_FIELDS = (
    "jobType",
    "inputSchemaName",
    "outputSchemaName",
    "outputData",
    "jobDescription",
    "jobName",
    "disableJob",
    "jobServiceLevel",
)
#: Echo order, as in Oracle's job details.
FIELDS = (
    *COMMON_FIELDS,
    "inputData",
    "supplementalColumnNames",
    "topN",
    "recompute",
    "modelId",
    "topNDetails",
    "keyColumnName",
    "inputColumnNames",
    "outputTensor",
)


class CommonFields(Protocol):
    """What every job type's properties hold (scoring and the monitoring types alike)."""

    @property
    def job_name(self) -> str: ...
    @property
    def output_data(self) -> str: ...
    @property
    def input_schema(self) -> str | None: ...
    @property
    def output_schema(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def service_level(self) -> str | None: ...
    @property
    def disable_job(self) -> bool: ...


def common_echo(job_type: str, fields: CommonFields) -> dict[str, Any]:
    """The fields every job type echoes first, in Oracle's order."""
    return {
        "jobType": job_type,
        "inputSchemaName": fields.input_schema,
        "outputSchemaName": fields.output_schema,
        "outputData": fields.output_data,
        "jobDescription": fields.description,
        "jobName": fields.job_name,
        "disableJob": fields.disable_job,
        "jobServiceLevel": fields.service_level,
    }


@dataclass(frozen=True)
class ScoringJobProperties:
    job_name: str
    model_id: str
    input_data: str
    output_data: str
    supplemental_columns: tuple[str, ...] = ()
    top_n: int | None = None
    top_n_details: int | None = None
    recompute: bool = False
    input_schema: str | None = None
    output_schema: str | None = None
    description: str | None = None
    service_level: str | None = None
    disable_job: bool = False
    key_column: str | None = None
    input_columns: tuple[str, ...] | None = None
    #: our extension (issue 16): score as feature extraction on this graph value (a cut model).
    output_tensor: str | None = None

    @classmethod
    def parse(cls, raw: object) -> ScoringJobProperties:
        if not isinstance(raw, dict):
            raise InvalidInput(
                "jobProperties is required: an object with jobName, jobType, modelId, inputData, ..."
            )
        problems: list[str] = []
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)}")
        job_type = raw.get("jobType")
        if job_type != MODEL_SCORING:
            problems.append(
                f"jobType is required and must be one of {', '.join((MODEL_SCORING, *OTHER_JOB_TYPES))}"
            )
        name = _text(raw, "jobName", problems, required=True, limit=MAX_JOB_NAME)
        model_id = _text(raw, "modelId", problems, required=True, limit=36)
        input_data = _identifier(raw, "inputData", problems, required=True)
        output_data = _identifier(raw, "outputData", problems, required=True, pattern=OUTPUT_NAME)
        supplemental = _identifiers(raw, "supplementalColumnNames", problems) or ()
        input_columns = _identifiers(raw, "inputColumnNames", problems, non_empty=True)
        top_n = _positive(raw, "topN", problems)
        details = _positive(raw, "topNDetails", problems)
        level = _one_of(raw, "jobServiceLevel", SERVICE_LEVELS, problems)
        if len(supplemental) + 2 * (top_n or 1) > MAX_OUTPUT_COLUMNS:
            problems.append(f"the output table would have more than {MAX_OUTPUT_COLUMNS} columns")
        properties = cls(
            job_name=name or "",
            model_id=model_id or "",
            input_data=input_data or "",
            output_data=output_data or "",
            supplemental_columns=supplemental,
            top_n=top_n,
            top_n_details=details,
            recompute=_boolean(raw, "recompute", problems),
            input_schema=_identifier(raw, "inputSchemaName", problems),
            output_schema=_identifier(raw, "outputSchemaName", problems),
            description=_text(raw, "jobDescription", problems, limit=MAX_DESCRIPTION),
            service_level=level,
            disable_job=_boolean(raw, "disableJob", problems),
            key_column=_identifier(raw, "keyColumnName", problems),
            input_columns=input_columns,
            output_tensor=_text(raw, "outputTensor", problems, limit=MAX_TENSOR_NAME),
        )
        if problems:
            raise InvalidInput("jobProperties is invalid: " + "; ".join(problems) + ".", details=problems)
        return properties

    def to_json(self) -> dict[str, Any]:
        """The echo; ``outputTensor`` (issue 16) only when set, so other jobs echo as Oracle's do."""
        cut = {} if self.output_tensor is None else {"outputTensor": self.output_tensor}
        return {
            **common_echo(MODEL_SCORING, self),
            "inputData": self.input_data,
            "supplementalColumnNames": list(self.supplemental_columns),
            "topN": self.top_n,
            "recompute": self.recompute,
            "modelId": self.model_id,
            "topNDetails": self.top_n_details,
            "keyColumnName": self.key_column,
            "inputColumnNames": None if self.input_columns is None else list(self.input_columns),
            **cut,
        }

    def to_text(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_text(cls, text: str) -> ScoringJobProperties:
        return cls.parse(json.loads(text))


def _text(
    raw: dict[str, Any], name: str, problems: list[str], *, required: bool = False, limit: int
) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            problems.append(f"{name} is required")
        return None
    if not isinstance(value, str):
        problems.append(f"{name} must be a string")
        return None
    if len(value) > limit:
        problems.append(f"{name} is longer than {limit} characters")
        return None
    return value


def _identifier(
    raw: dict[str, Any],
    name: str,
    problems: list[str],
    *,
    required: bool = False,
    pattern: re.Pattern[str] = IDENTIFIER,
) -> str | None:
    value = _text(raw, name, problems, required=required, limit=128)
    if value is not None and not pattern.fullmatch(value):
        problems.append(f"{name} {value!r} must be a table or column name: letters, digits, '_', '$' or '#'")
        return None
    return value


def _identifiers(
    raw: dict[str, Any], name: str, problems: list[str], *, non_empty: bool = False
) -> tuple[str, ...] | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{name} must be an array of column names")
        return None
    if non_empty and not value:
        problems.append(f"{name} must name at least one column")
        return None
    bad = [item for item in value if not IDENTIFIER.fullmatch(item)]
    if bad:
        problems.append(f"{name} holds names that are not column names: {', '.join(map(repr, bad))}")
        return None
    folded = [item.upper() for item in value]
    if len(set(folded)) != len(folded):
        problems.append(f"{name} names a column twice")
        return None
    return tuple(value)


def _positive(raw: dict[str, Any], name: str, problems: list[str]) -> int | None:
    try:
        return parse_positive_int(raw.get(name), name)
    except InvalidInput as exc:
        problems.append(exc.message.rstrip("."))
        return None


def _one_of(raw: dict[str, Any], name: str, choices: tuple[str, ...], problems: list[str]) -> str | None:
    """One of ``choices`` in upper case, as any case is accepted; None when unset or invalid."""
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in choices:
        problems.append(f"{name} must be one of {', '.join(choices)}")
        return None
    return value.upper()


def _boolean(raw: dict[str, Any], name: str, problems: list[str]) -> bool:
    """A boolean, also as the strings ``"true"``/``"false"`` Oracle's examples send; default false."""
    value = raw.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append(f"{name} must be true or false")
    return False


def job_spec(spec_json: str, properties: ScoringJobProperties) -> ScoringSpec:
    """What a job scores as: the model's spec, or feature extraction on its ``outputTensor`` (issue 16)."""
    spec = ScoringSpec.from_json(spec_json)
    return spec if properties.output_tensor is None else cut_spec(spec, properties.output_tensor)
