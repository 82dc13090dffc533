"""The recipe schema: types, bounds, choices and defaults from the models."""

import pytest

from predrnn_keras.backends import FAST_PATHS
from predrnn_keras.models.schedules import SAMPLING_MODES
from predrnn_keras.models.variants import VARIANTS
from predrnn_keras.models.variants import model_defaults
from predrnn_keras.recipe_schema import FROM_MODEL
from predrnn_keras.recipe_schema import SCHEMA
from predrnn_keras.recipe_schema import RecipeError
from predrnn_keras.recipe_schema import check_table
from predrnn_keras.recipe_schema import check_value
from predrnn_keras.recipe_schema import field_default
from predrnn_keras.recipe_schema import read_toml


def test_names_come_from_where_they_are_defined():
    model = SCHEMA["model"]
    assert model["variant"].choices == VARIANTS
    assert model["sampling"].choices == SAMPLING_MODES
    assert model["fast_paths"].choices == FAST_PATHS


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_defaults_are_read_from_the_constructor(variant):
    defaults = model_defaults(variant)
    for key, field in SCHEMA["model"].items():
        if field.default == FROM_MODEL and key in defaults:
            assert field_default("model", key, variant) == defaults[key]
    assert field_default("model", "fast_paths", variant) == "auto"


def test_values_are_checked_and_converted():
    assert check_value("train", "learning_rate", 1) == 1.0
    assert type(check_value("train", "learning_rate", 1)) is float
    assert check_value("model", "num_hidden", [8, 8]) == [8, 8]
    for section, key, value in [
        ("train", "iterations", 0),
        ("train", "iterations", True),
        ("train", "learning_rate", float("nan")),
        ("model", "num_hidden", []),
        ("model", "fast_paths", "on"),
    ]:
        with pytest.raises(RecipeError, match=rf"{section}\.{key}"):
            check_value(section, key, value)


def test_check_table_returns_only_the_given_keys():
    assert check_table("model", {"filter_size": 3}) == {"filter_size": 3}
    with pytest.raises(RecipeError, match="Did you mean model.filter_size"):
        check_table("model", {"filtersize": 3})
    with pytest.raises(RecipeError, match=r"must be a table \[model\]"):
        check_table("model", 3)


def test_read_toml_errors(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        read_toml(tmp_path / "missing.toml")
    path = tmp_path / "bad.toml"
    path.write_text("[model\n")
    with pytest.raises(RecipeError, match="not valid TOML"):
        read_toml(path)
