"""Which table columns feed which model input, and what the output table holds (pure, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from omlsvc.core.errors import InvalidInput, ScoringFailed
from omlsvc.core.signature import (
    Function,
    ImageSpec,
    LabelSource,
    ModelType,
    ScoringSpec,
    TensorInfo,
    ValueKind,
)
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.shapes import BINARY, NUMBER, STRING, ColumnShape, TableShape
from omlsvc.scoring.outputs import RankedColumns

IRIS = TableShape(
    schema=None,
    name="iris_in",
    columns=(
        ColumnShape("id", NUMBER),
        ColumnShape("sepal_length", NUMBER),
        ColumnShape("sepal_width", NUMBER),
        ColumnShape("petal_length", NUMBER),
        ColumnShape("petal_width", NUMBER),
        ColumnShape("species", STRING),
    ),
    primary_key=("id",),
)


def tensor(name: str, shape: tuple[int, ...] | None, element: str = "FLOAT") -> TensorInfo:
    return TensorInfo(name, ValueKind.TENSOR, element, shape)


def spec(
    function: Function,
    inputs: tuple[TensorInfo, ...] = (tensor("float_input", (-1, 4)),),
    *,
    width: int | None = 3,
    measure: str | None = None,
    image: ImageSpec | None = None,
) -> ScoringSpec:
    return ScoringSpec(
        model_type=ModelType.ONNX_IMG if image else ModelType.ONNX,
        function=function,
        inputs=inputs,
        outputs=(tensor("out", (-1, width or -1)),),
        output="out",
        label_source=LabelSource.STATIC if function is Function.CLASSIFICATION else None,
        labels=("a", "b", "c") if function is Function.CLASSIFICATION else None,
        cluster_measure=measure,
        image=image,
        width=width,
    )


def props(**values: Any) -> ScoringJobProperties:
    base: dict[str, Any] = {
        "jobName": "j",
        "jobType": "MODEL_SCORING",
        "modelId": "m",
        "inputData": "IRIS_IN",
    }
    base["outputData"] = "OUT"
    base.update(values)
    return ScoringJobProperties.parse(base)


def test_one_wide_input_takes_the_columns_besides_key_and_supplemental_in_table_order() -> None:
    plan = ScoringPlan.build(
        IRIS, spec(Function.CLASSIFICATION), props(supplementalColumnNames=["ID", "SPECIES"])
    )
    assert plan.key == "id"
    assert plan.supplemental == ("id", "species")
    (feed,) = plan.feeds
    assert feed.columns == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert plan.read_columns == (
        "id",
        "species",
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    )
    rows = [(1, "setosa", 5.1, 3.5, 1.4, 0.2), (2, "virginica", 6.3, 3.3, 6.0, 2.5)]
    assert plan.records(rows) == [{"float_input": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}]


def test_a_column_count_that_does_not_match_the_input_width_says_which_columns_it_saw() -> None:
    with pytest.raises(InvalidInput, match=r"takes 4 columns but iris_in has 5 .*species.*inputColumnNames"):
        ScoringPlan.build(IRIS, spec(Function.CLASSIFICATION), props())


def test_input_column_names_are_handed_to_the_inputs_in_order() -> None:
    model = spec(Function.CLASSIFICATION, (tensor("cat", (-1, 1), "STRING"), tensor("num", (-1, 2))))
    plan = ScoringPlan.build(IRIS, model, props(inputColumnNames=["SPECIES", "sepal_length", "Petal_Width"]))
    assert [(f.name, f.columns) for f in plan.feeds] == [
        ("cat", ("species",)),
        ("num", ("sepal_length", "petal_width")),
    ]
    rows = [(7, "setosa", 5.1, 0.2)]
    assert plan.records(rows) == [{"cat": [["setosa"]], "num": [[5.1, 0.2]]}]
    with pytest.raises(InvalidInput, match="inputColumnNames lists 2 columns"):
        ScoringPlan.build(IRIS, model, props(inputColumnNames=["species", "sepal_length"]))


def test_inputs_named_like_columns_take_one_value_per_row() -> None:
    model = spec(
        Function.REGRESSION, (tensor("SEPAL_LENGTH", (-1, 1)), tensor("petal_width", (-1,))), width=1
    )
    plan = ScoringPlan.build(IRIS, model, props())
    assert [(f.name, f.columns, f.rank) for f in plan.feeds] == [
        ("SEPAL_LENGTH", ("sepal_length",), 2),
        ("petal_width", ("petal_width",), 1),
    ]
    assert plan.records([(1, 5.1, 0.2)]) == [{"SEPAL_LENGTH": [[5.1]], "petal_width": [0.2]}]


def test_several_inputs_without_matching_columns_ask_for_input_column_names() -> None:
    model = spec(Function.CLASSIFICATION, (tensor("cat", (-1, 1), "STRING"), tensor("num", (-1, 2))))
    with pytest.raises(InvalidInput, match="no column named 'cat', 'num'"):
        ScoringPlan.build(IRIS, model, props())


def test_the_key_is_the_primary_key_or_key_column_name() -> None:
    view = TableShape(None, "iris_v", IRIS.columns, ())
    with pytest.raises(InvalidInput, match=r"no primary key.*keyColumnName"):
        ScoringPlan.build(view, spec(Function.CLASSIFICATION), props(supplementalColumnNames=["species"]))
    plan = ScoringPlan.build(
        view, spec(Function.CLASSIFICATION), props(keyColumnName="ID", supplementalColumnNames=["species"])
    )
    assert plan.key == "id"


def test_unknown_columns_are_named_with_what_the_table_has() -> None:
    with pytest.raises(InvalidInput, match=r"no column 'customer_id' .*sepal_length"):
        ScoringPlan.build(IRIS, spec(Function.CLASSIFICATION), props(supplementalColumnNames=["customer_id"]))


def test_a_binary_column_cannot_feed_a_numeric_input() -> None:
    table = TableShape(None, "t", (ColumnShape("id", NUMBER), ColumnShape("blob", BINARY)), ("id",))
    model = spec(Function.REGRESSION, (tensor("x", (-1, 1)),), width=1)
    with pytest.raises(InvalidInput, match=r"blob .*cannot feed the numeric model input"):
        ScoringPlan.build(table, model, props())


def names(plan: ScoringPlan) -> list[str]:
    return [c.name for c in plan.outputs]


def test_output_columns_follow_oracles_names_for_each_function() -> None:
    supplemental = {"supplementalColumnNames": ["id", "species"]}
    assert names(ScoringPlan.build(IRIS, spec(Function.REGRESSION, width=1), props(**supplemental))) == [
        "id", "species", "OML$PREDICTION",
    ]  # fmt: skip
    assert names(ScoringPlan.build(IRIS, spec(Function.CLASSIFICATION), props(topN=2, **supplemental))) == [
        "id", "species", "OML$PREDICTION1", "OML$PROBABILITY1", "OML$PREDICTION2", "OML$PROBABILITY2",
    ]  # fmt: skip
    clusters = ScoringPlan.build(IRIS, spec(Function.CLUSTERING, measure="distance"), props(**supplemental))
    assert names(clusters) == ["id", "species", "OML$CLUSTER_ID1", "OML$DISTANCE1"]
    features = ScoringPlan.build(IRIS, spec(Function.FEATURE_EXTRACTION, width=2), props(**supplemental))
    assert names(features) == [
        "id",
        "species",
        "OML$FEATURE_ID1",
        "OML$WEIGHT1",
        "OML$FEATURE_ID2",
        "OML$WEIGHT2",
    ]


def test_top_n_beyond_the_number_of_classes_adds_no_empty_columns() -> None:
    plan = ScoringPlan.build(
        IRIS, spec(Function.CLASSIFICATION), props(topN=10, supplementalColumnNames=["species"])
    )
    assert plan.top_n == 3


def test_results_become_rows_best_first() -> None:
    table_props = props(topN=2, supplementalColumnNames=["species"])
    plan = ScoringPlan.build(IRIS, spec(Function.CLASSIFICATION), table_props)
    rows = [(1, "x", 5.1, 3.5, 1.4, 0.2)]
    ranked = RankedColumns(1, [["b"], ["a"]], [[0.7], [0.2]])
    assert plan.output_batch(rows, ranked).dicts() == [
        {
            "species": "x",
            "OML$PREDICTION1": "b",
            "OML$PROBABILITY1": 0.7,
            "OML$PREDICTION2": "a",
            "OML$PROBABILITY2": 0.2,
        }
    ]
    features = ScoringPlan.build(
        IRIS, spec(Function.FEATURE_EXTRACTION, width=3), props(topN=2, supplementalColumnNames=["species"])
    )
    assert features.output_batch(rows, RankedColumns(1, [[1], [0]], [[3.0], [0.5]])).dicts() == [
        {"species": "x", "OML$FEATURE_ID1": 1, "OML$WEIGHT1": 3.0, "OML$FEATURE_ID2": 0, "OML$WEIGHT2": 0.5}
    ]


def test_a_result_count_that_differs_from_the_rows_is_a_scoring_failure() -> None:
    plan = ScoringPlan.build(
        IRIS, spec(Function.REGRESSION, width=1), props(supplementalColumnNames=["species"])
    )
    with pytest.raises(ScoringFailed, match="2 results for 1 input rows"):
        plan.output_batch([(1, "x", 5.1, 3.5, 1.4, 0.2)], RankedColumns(2, [], [[1.0, 2.0]]))


def test_generated_names_cannot_be_supplemental_columns() -> None:
    table = TableShape(None, "t", (*IRIS.columns, ColumnShape("OML$PREDICTION", NUMBER)), ("id",))
    model = spec(Function.REGRESSION, width=1)
    with pytest.raises(InvalidInput, match="generated column names: OML\\$PREDICTION"):
        ScoringPlan.build(
            table,
            model,
            props(
                supplementalColumnNames=["oml$prediction"],
                inputColumnNames=["sepal_length", "sepal_width", "petal_length", "petal_width"],
            ),
        )


def test_an_image_model_reads_the_only_binary_column() -> None:
    table = TableShape(
        None,
        "photos",
        (ColumnShape("id", NUMBER), ColumnShape("name", STRING), ColumnShape("jpeg", BINARY)),
        ("id",),
    )
    image = ImageSpec("image", 8, 8, 3, (0.0,) * 3, (1.0,) * 3)
    model = spec(Function.FEATURE_EXTRACTION, (tensor("image", (-1, 3, 8, 8)),), width=4, image=image)
    plan = ScoringPlan.build(table, model, props(supplementalColumnNames=["name"]))
    assert plan.image_column == "jpeg"
    assert plan.images([(1, "a", b"\x89PNG")]) == [b"\x89PNG"]
    with pytest.raises(InvalidInput, match="no image"):
        plan.images([(2, "b", None)])
