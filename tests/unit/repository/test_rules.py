"""The function rules of spec 8.2, 8.4 and 8.5, each shown by a package that breaks it and the problem
it produces (classification's three cases have their own file).

Messages are asserted in full: they are what a client reads in the 400 response.
"""

from __future__ import annotations

from pathlib import Path

from tests.modelzoo import make_gmm_zip, make_kmeans_zip
from tests.unit.repository.packages import IMG, image_zip, problems_of, tabular_zip, validated

# --- regression (spec 8.2) ---------------------------------------------------------------------------


def test_regression_output_is_required_when_there_are_several_outputs(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"price": "values", "scores": "scores"}, {"function": "regression"})

    assert problems_of(path) == ("regressionOutput is required: the model has 2 outputs ('price', 'scores')",)


def test_regression_output_picks_one_of_several(tmp_path: Path) -> None:
    path = tabular_zip(
        tmp_path,
        {"price": "values", "scores": "scores"},
        {"function": "regression", "regressionOutput": "price"},
    )

    assert validated(path).spec.output == "price"


def test_regression_output_must_exist_and_names_are_case_sensitive(tmp_path: Path) -> None:
    metadata = {"function": "regression", "regressionOutput": "Price"}
    path = tabular_zip(tmp_path, {"price": "values", "scores": "scores"}, metadata)

    assert problems_of(path) == (
        "regressionOutput names 'Price', which is not an output of the model (did you mean 'price'? output "
        "names are case-sensitive); its outputs are 'price', 'scores'",
    )


def test_regression_output_holds_floats(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"price": "int_scores"}, {"function": "regression"}, classes=["only"])

    assert problems_of(path) == (
        "the regression output 'price' must be a float or double tensor, not a INT64 tensor",
    )


def test_regression_output_may_hold_doubles(tmp_path: Path) -> None:
    path = tabular_zip(
        tmp_path, {"price": "double_probabilities"}, {"function": "regression"}, classes=["only"]
    )

    assert validated(path).spec.output_info("price").element_type == "DOUBLE"


def test_regression_output_is_a_column_not_a_vector(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"price": "row_values"}, {"function": "regression"})

    assert problems_of(path) == ("the regression output 'price' has shape [?]; it must be [batch, 1]",)


def test_regression_output_has_one_number_per_row(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"prices": "scores"}, {"function": "regression"})

    assert problems_of(path) == (
        "the regression output 'prices' has shape [?, 3]; it must be [batch, 1] (one number per row)",
    )


# --- clustering (spec 8.4) ---------------------------------------------------------------------------


def test_clustering_needs_exactly_one_output_field(tmp_path: Path) -> None:
    both = {"function": "clustering", "clusteringDistanceOutput": "scores", "clusteringProbOutput": "scores"}

    assert problems_of(make_kmeans_zip(tmp_path, metadata=both).zip_path) == (
        "clustering needs exactly one of clusteringDistanceOutput and clusteringProbOutput; both are given",
    )


def test_the_cluster_output_must_exist(tmp_path: Path) -> None:
    metadata = {"function": "clustering", "clusteringDistanceOutput": "distances"}

    assert problems_of(make_kmeans_zip(tmp_path, metadata=metadata).zip_path) == (
        "clusteringDistanceOutput names 'distances', which is not an output of the model; its outputs are "
        "'label', 'scores'",
    )


def test_the_cluster_output_holds_floats(tmp_path: Path) -> None:
    metadata = {"function": "clustering", "clusteringProbOutput": "label"}

    assert problems_of(make_gmm_zip(tmp_path, metadata=metadata).zip_path) == (
        "the clustering probability output 'label' must be a float or double tensor, not a INT64 tensor",
    )


def test_the_cluster_output_has_a_column_per_cluster(tmp_path: Path) -> None:
    path = tabular_zip(
        tmp_path, {"d": "row_values"}, {"function": "clustering", "clusteringDistanceOutput": "d"}
    )

    assert problems_of(path) == (
        "the clustering distance output 'd' has shape [?]; it must be [batch, nClusters]",
    )


def test_cluster_names_in_label_txt_match_the_cluster_count(tmp_path: Path) -> None:
    assert problems_of(make_gmm_zip(tmp_path, labels=["a", "b"]).zip_path) == (
        "label.txt has 2 labels but the output 'probabilities' has 3 columns",
    )


def test_clustering_is_for_non_image_models(tmp_path: Path) -> None:
    metadata = {"function": "clustering", "clusteringDistanceOutput": "features"}

    assert problems_of(image_zip(tmp_path, {"features": "features"}, metadata), IMG) == (
        "function clustering is not supported for modelType ONNX_IMG, which supports classification and "
        "feature_extraction",
    )


# --- feature extraction (spec 8.5) -------------------------------------------------------------------


def test_feature_maps_are_flattened_per_row(tmp_path: Path) -> None:
    path = image_zip(tmp_path, {"maps": "feature_maps"}, {"function": "feature_extraction"})

    assert validated(path, IMG).spec.width == 4 * 8 * 8


def test_the_only_float_output_is_the_feature_output(tmp_path: Path) -> None:
    path = image_zip(
        tmp_path, {"top": "predicted", "embedding": "features"}, {"function": "feature_extraction"}
    )

    assert validated(path, IMG).spec.output == "embedding"


def test_with_several_float_outputs_the_feature_output_cannot_be_chosen(tmp_path: Path) -> None:
    path = image_zip(
        tmp_path, {"embedding": "features", "p": "probabilities"}, {"function": "feature_extraction"}
    )

    assert problems_of(path, IMG) == (
        "feature extraction returns the model's only output or its only float/double tensor output; this "
        "model has 2 outputs ('embedding', 'p'), 2 of them float/double tensors (metadata.json has no field "
        "to choose one)",
    )


def test_the_feature_output_holds_floats(tmp_path: Path) -> None:
    path = image_zip(tmp_path, {"top": "predicted"}, {"function": "feature_extraction"})

    assert problems_of(path, IMG) == (
        "the feature output 'top' must be a float or double tensor, not a INT64 tensor",
    )


def test_feature_extraction_is_for_image_models(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"f": "scores"}, {"function": "feature_extraction"})

    assert problems_of(path) == (
        "function feature_extraction is not supported for modelType ONNX, which supports classification and "
        "regression and clustering",
    )
