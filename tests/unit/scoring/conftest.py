"""Session-wide tiny models: each is trained/built once per test run, in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.scoring import builders
from tests.unit.scoring.builders import BuiltModel


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scoring_models")


@pytest.fixture(scope="session")
def regressor(model_dir: Path) -> BuiltModel:
    return builders.make_regressor(model_dir)


@pytest.fixture(scope="session")
def zipmap_str(model_dir: Path) -> BuiltModel:
    return builders.make_zipmap_classifier(model_dir, string_labels=True)


@pytest.fixture(scope="session")
def zipmap_int(model_dir: Path) -> BuiltModel:
    return builders.make_zipmap_classifier(model_dir, string_labels=False)


@pytest.fixture(scope="session")
def static_classifier(model_dir: Path) -> BuiltModel:
    return builders.make_static_label_classifier(model_dir)


@pytest.fixture(scope="session")
def kmeans(model_dir: Path) -> BuiltModel:
    return builders.make_kmeans(model_dir)


@pytest.fixture(scope="session")
def gmm(model_dir: Path) -> BuiltModel:
    return builders.make_gmm(model_dir)


@pytest.fixture(scope="session")
def multi_input(model_dir: Path) -> BuiltModel:
    return builders.make_multi_input_classifier(model_dir)


@pytest.fixture(scope="session")
def label_output(model_dir: Path) -> BuiltModel:
    return builders.make_label_output_classifier(model_dir)


@pytest.fixture(scope="session")
def image_nchw(model_dir: Path) -> BuiltModel:
    return builders.make_image_classifier(model_dir, layout="NCHW")


@pytest.fixture(scope="session")
def image_nhwc(model_dir: Path) -> BuiltModel:
    return builders.make_image_classifier(model_dir, layout="NHWC")


@pytest.fixture(scope="session")
def feature_extractor(model_dir: Path) -> BuiltModel:
    return builders.make_feature_extractor(model_dir)
