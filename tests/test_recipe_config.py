"""Recipes: loading, defaults, `--set` overrides, errors naming the key."""

import tomllib

import numpy as np
import pytest

from predrnn_keras import recipe_config
from predrnn_keras.recipe_config import RecipeError
from predrnn_keras.models import PredRNN
from predrnn_keras.models import PredRNNV2
from predrnn_keras.models.variants import VARIANTS
from predrnn_keras.models.variants import model_defaults
from predrnn_keras.recipe_schema import SCHEMA
from tests.workflow_helpers import REPO
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe

RECIPES = sorted((REPO / "recipes").glob("*.toml"))
QUICKSTART = REPO / "recipes" / "quickstart.toml"


def test_the_five_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {
        "quickstart",
        "mnist_predrnn",
        "mnist_predrnn_v2",
        "kth_predrnn",
        "kth_predrnn_v2",
    } <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads_and_builds_a_model(path):
    recipe = recipe_config.load_recipe(path)
    shape = recipe_config.recipe_frame_shape(recipe, missing_ok=True)
    model = recipe_config.build_model(recipe, shape)
    expected = (
        PredRNNV2 if recipe["model"]["variant"] == "predrnn_v2" else PredRNN
    )
    assert type(model) is expected
    assert model.built
    assert model.num_hidden == recipe["model"]["num_hidden"]
    assert model.frame_shape == shape
    assert model.optimizer.learning_rate is not None


@pytest.mark.parametrize(
    "name, values",
    [
        (
            "mnist_predrnn",
            dict(
                variant="predrnn",
                sampling="scheduled",
                beta=0.0,
                lr=3e-4,
                batch=8,
                size=64,
            ),
        ),
        (
            "mnist_predrnn_v2",
            dict(
                variant="predrnn_v2",
                sampling="reverse",
                beta=0.1,
                lr=1e-4,
                batch=8,
                size=64,
                step_1=25000,
                step_2=50000,
                alpha=2500.0,
            ),
        ),
        (
            "kth_predrnn",
            dict(
                variant="predrnn",
                sampling="scheduled",
                beta=0.0,
                lr=3e-4,
                batch=4,
                size=128,
            ),
        ),
        (
            "kth_predrnn_v2",
            dict(
                variant="predrnn_v2",
                sampling="reverse",
                beta=0.01,
                lr=1e-4,
                batch=4,
                size=128,
                step_1=5000,
                step_2=50000,
                alpha=2000.0,
            ),
        ),
    ],
)
def test_reference_recipes_match_the_reference_scripts(name, values):
    recipe = recipe_config.load_recipe(REPO / "recipes" / f"{name}.toml")
    model, train = recipe["model"], recipe["train"]
    assert model["variant"] == values["variant"]
    assert model["num_hidden"] == [128, 128, 128, 128]
    assert (model["filter_size"], model["patch_size"]) == (5, 4)
    assert model["layer_norm"] is False
    assert model["input_length"] == 10 and train["total_length"] == 20
    assert model["sampling"] == values["sampling"]
    assert model["decouple_beta"] == values["beta"]
    assert model["reverse_input"] is True
    assert train["learning_rate"] == values["lr"]
    assert train["batch_size"] == values["batch"]
    assert train["iterations"] == 80000
    assert train["eval_every"] == train["checkpoint_every"] == 5000
    assert train["log_every"] == 100
    assert recipe_config.recipe_frame_shape(recipe, missing_ok=True) == (
        values["size"],
        values["size"],
        1,
    )
    if values["sampling"] == "scheduled":
        assert model["sampling_start_value"] == 1.0
        assert model["sampling_changing_rate"] == 2e-5
        assert model["sampling_stop_iter"] == 50000
    else:
        assert model["r_sampling_step_1"] == values["step_1"]
        assert model["r_sampling_step_2"] == values["step_2"]
        assert model["r_exp_alpha"] == values["alpha"]
    if name.startswith("kth"):
        assert recipe["evaluate"]["horizon"] == 20


def test_defaults_follow_the_variant():
    raw = {"model": {"variant": "predrnn"}, "data": {"kind": "moving_mnist"}}
    recipe = recipe_config.recipe_from_dict(raw)
    assert recipe["model"]["sampling"] == "scheduled"
    assert recipe["model"]["decouple_beta"] == 0.0
    raw["model"]["variant"] = "predrnn_v2"
    recipe = recipe_config.recipe_from_dict(raw)
    assert recipe["model"]["sampling"] == "reverse"
    assert recipe["model"]["decouple_beta"] == 0.1
    # Every key of the schema is filled in.
    for section, fields in SCHEMA.items():
        assert set(recipe[section]) == set(fields)


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_defaults_are_the_constructors(variant):
    raw = {"model": {"variant": variant}, "data": {"kind": "moving_mnist"}}
    model = recipe_config.recipe_from_dict(raw)["model"]
    defaults = model_defaults(variant)
    for key in set(model) & set(defaults):
        assert model[key] == defaults[key], key
    assert model["fast_paths"] == "auto"


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_model_key_is_a_constructor_argument(variant):
    keys = set(SCHEMA["model"]) - {"variant"}
    assert keys <= set(model_defaults(variant))


@pytest.mark.parametrize(
    "override, section, key, value",
    [
        ("model.num_hidden=[64,64,64,64]", "model", "num_hidden", [64] * 4),
        ("model.layer_norm=true", "model", "layer_norm", True),
        ("train.learning_rate=1e-4", "train", "learning_rate", 1e-4),
        ("train.learning_rate=1", "train", "learning_rate", 1.0),
        ('model.variant="predrnn"', "model", "variant", "predrnn"),
        ("model.variant=predrnn", "model", "variant", "predrnn"),
        (
            "data.mnist_path=/tmp/some dir/mnist.npz",
            "data",
            "mnist_path",
            "/tmp/some dir/mnist.npz",
        ),
        ("evaluate.horizon = 20", "evaluate", "horizon", 20),
    ],
)
def test_set_overrides_parse_toml_values(
    tmp_path, override, section, key, value
):
    path = write_recipe(tmp_path / "r.toml", tiny_recipe())
    recipe = recipe_config.load_recipe(path, [override])
    assert recipe[section][key] == value
    assert type(recipe[section][key]) is type(value)


@pytest.mark.parametrize(
    "override, named",
    [
        ("model.num_hiden=[8,8]", "model.num_hiden"),
        ("modle.num_hidden=[8,8]", "modle"),
        ("train.iterations=1.5", "train.iterations"),
        ("train.iterations=true", "train.iterations"),
        ("train.iterations=0", "train.iterations"),
        ('train.learning_rate="fast"', "train.learning_rate"),
        ("model.num_hidden=8", "model.num_hidden"),
        ("model.num_hidden=[8,8.5]", "model.num_hidden"),
        ("model.layer_norm=1", "model.layer_norm"),
        ('model.variant="predrnn3"', "model.variant"),
        ('model.sampling="sometimes"', "model.sampling"),
        ('model.fast_paths="fast"', "model.fast_paths"),
        ('data.kind="mnist_zip"', "data.kind"),
        ("data.num_digit=2", "num_digit"),
        ('data.num_digits="two"', "num_digits"),
        ("model.num_hidden=[8,4]", "model.num_hidden"),
        ("model.patch_size=3", "model.patch_size"),
        ("model.input_length=5", "model.input_length"),
        ("train.iterations", "train.iterations"),
    ],
)
def test_bad_keys_and_types_name_the_key(tmp_path, override, named):
    path = write_recipe(tmp_path / "r.toml", tiny_recipe())
    # RecipeError, or the reader's ValueError for the values of [data] that
    # only the reader knows (checked before training writes anything).
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        recipe = recipe_config.load_recipe(path, [override])
        from predrnn_keras.data import make_reader

        make_reader(recipe["data"], "val", 5)


def test_bad_key_in_the_file_names_the_key(tmp_path):
    raw = tiny_recipe(train={"batchsize": 4})
    path = write_recipe(tmp_path / "r.toml", raw)
    with pytest.raises(
        RecipeError, match=r"train\.batchsize.*train\.batch_size"
    ):
        recipe_config.load_recipe(path)
    raw = tiny_recipe()
    raw["optimizer"] = {"name": "adam"}
    path = write_recipe(tmp_path / "r.toml", raw)
    with pytest.raises(RecipeError, match="optimizer"):
        recipe_config.load_recipe(path)


def test_invalid_toml_and_missing_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[model\nvariant = 1")
    with pytest.raises(RecipeError, match="not valid TOML"):
        recipe_config.load_recipe(path)
    with pytest.raises(RecipeError, match="not found"):
        recipe_config.load_recipe(tmp_path / "missing.toml")


def test_merged_recipe_round_trips_through_toml(tmp_path):
    path = write_recipe(tmp_path / "r.toml", tiny_recipe())
    recipe = recipe_config.load_recipe(
        path,
        [
            "train.learning_rate=3e-5",
            'data.mnist_path="C:\\\\digits \\"x\\".npz"',
        ],
    )
    out = tmp_path / "merged.toml"
    recipe_config.dump_recipe(recipe, out)
    with open(out, "rb") as f:
        again = recipe_config.resolve(tomllib.load(f))
    assert again == recipe
    assert again["data"]["mnist_path"] == 'C:\\digits "x".npz'
    assert not list(tmp_path.glob("*.partial*"))


def test_recipe_differences_name_the_keys():
    a = recipe_config.recipe_from_dict(tiny_recipe())
    b = recipe_config.recipe_from_dict(
        tiny_recipe(model={"num_hidden": [8, 8]}, evaluate={"horizon": 9})
    )
    differences = recipe_config.recipe_differences(a, b)
    assert len(differences) == 1 and differences[0].startswith(
        "model.num_hidden"
    )


def test_model_kwargs_reach_the_model(tmp_path):
    path = write_recipe(tmp_path / "r.toml", tiny_recipe())
    recipe = recipe_config.load_recipe(
        path,
        [
            "model.forget_bias=0.5",
            "train.seed=7",
            "model.decouple_beta=0.2",
            "model.fast_paths=off",
        ],
    )
    model = recipe_config.build_model(recipe)
    assert model.get_config()["fast_paths"] == "off"
    assert model.forget_bias == 0.5
    assert model.seed == 7
    assert model.decouple_beta == 0.2
    assert model.r_sampling_step_1 == 2
    out = model(np.zeros((1, 5, 16, 16, 1), "float32"))
    assert tuple(out.shape) == (1, 4, 16, 16, 1)


def test_auto_precision_resolves_and_a_resumed_run_keeps_its_own():
    from predrnn_keras import hardware

    recipe = recipe_config.load_recipe(QUICKSTART)
    assert recipe["train"]["precision"] == "auto"
    resolved, reason = recipe_config.resolve_precision(recipe)
    assert resolved["train"]["precision"] == hardware.auto_precision()[0]
    assert reason and recipe["train"]["precision"] == "auto"  # a copy
    saved = recipe_config.load_recipe(
        QUICKSTART, ["train.precision='mixed_bfloat16'"]
    )
    resolved, reason = recipe_config.resolve_precision(recipe, saved)
    assert resolved["train"]["precision"] == "mixed_bfloat16"
    assert "started" in reason
    explicit = recipe_config.load_recipe(
        QUICKSTART, ["train.precision='float32'"]
    )
    assert recipe_config.resolve_precision(explicit, saved) == (explicit, None)
    assert recipe_config.model_kwargs(recipe)["dtype"] in (
        "float32", "mixed_bfloat16"
    )


def test_cosine_learning_rate_schedule():
    import keras

    recipe = recipe_config.load_recipe(
        QUICKSTART,
        [
            "train.learning_rate_schedule='cosine'",
            "train.learning_rate=1e-3",
            "train.final_learning_rate=1e-5",
            "train.iterations=100",
        ],
    )
    schedule = recipe_config.learning_rate_schedule(recipe)
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    rate = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))
    assert abs(rate(0) - 1e-3) < 1e-9
    # Half way: the mean of the two ends; the end: the final rate.
    assert abs(rate(50) - (1e-3 + 1e-5) / 2) < 1e-8
    assert abs(rate(100) - 1e-5) < 1e-9
    # Two optimiser steps per iteration with reverse_input.
    recipe["model"]["reverse_input"] = True
    assert recipe_config.learning_rate_schedule(recipe).decay_steps == 200
    constant = recipe_config.load_recipe(
        QUICKSTART, ["train.learning_rate_schedule='constant'"]
    )
    assert recipe_config.learning_rate_schedule(constant, 5e-4) == 5e-4
