"""The balanced loss: the model's loss option and the recipe keys."""

import keras
import numpy as np
import pytest
from absl.testing import parameterized

from predrnn_keras import PredRNN
from predrnn_keras import PredRNNV2
from predrnn_keras import recipe_config
from predrnn_keras.data import kinds
from predrnn_keras.recipe_config import RecipeError
from predrnn_keras.recipe_schema import check_value
from predrnn_keras.recipe_schema import field_default
from tests.test_case import TestCase
from tests.workflow_helpers import tiny_recipe

TINY = dict(num_hidden=[4, 4], filter_size=3, patch_size=2, input_length=3)
THRESHOLDS = [0.2, 0.5]
WEIGHTS = [1.0, 2.0, 5.0]
BALANCED = dict(
    loss="balanced", loss_thresholds=THRESHOLDS, loss_weights=WEIGHTS
)


def numpy_balanced_loss(prediction, target, thresholds, weights):
    """The formula, pixel by pixel: w = weights[number of thresholds
    reached by the true value]."""
    reached = (target[..., None] >= np.asarray(thresholds)).sum(-1)
    w = np.asarray(weights)[reached]
    error = prediction.astype(np.float64) - target
    return np.mean(w * error**2) + np.mean(w * np.abs(error))


def hand_made_batch():
    """One sequence of two 2x2 frames: truths below, at, between and above
    the thresholds 0.2 and 0.5 (weights 1, 2, 5, 5)."""
    frames = np.zeros((1, 2, 2, 2, 1), "float32")
    frames[0, 1, :, :, 0] = [[0.1, 0.2], [0.5, 0.9]]
    prediction = np.zeros((1, 1, 2, 2, 1), "float32")
    prediction[0, 0, :, :, 0] = [[0.3, 0.2], [0.3, 0.5]]
    return frames, prediction


def random_batch(seed=0):
    """Truths spread over [0, 1], so every weight occurs."""
    rng = np.random.default_rng(seed)
    frames = rng.random((3, 5, 8, 8, 1)).astype("float32")
    prediction = rng.random((3, 4, 8, 8, 1)).astype("float32")
    return frames, prediction


class BalancedLossTest(TestCase):
    def compute_loss(self, model, frames, prediction):
        model.mse_tracker.reset_state()
        loss = model.compute_loss(x=frames, y_pred=prediction)
        mse = model.mse_tracker.result()
        return float(self.to_numpy(loss)), float(self.to_numpy(mse))

    def test_loss_by_hand(self):
        frames, prediction = hand_made_batch()
        model = PredRNN(**TINY, **BALANCED, seed=0)
        loss, mse = self.compute_loss(model, frames, prediction)
        # Errors 0.2, 0, -0.2, -0.4 with weights 1, 2, 5, 5:
        # mean(w e^2) = (0.04 + 0 + 0.2 + 0.8) / 4 = 0.26,
        # mean(w |e|) = (0.2 + 0 + 1.0 + 2.0) / 4 = 0.8.
        self.assertAllClose(loss, 1.06, rtol=1e-6)
        # The tracker keeps the plain MSE: (0.04 + 0 + 0.04 + 0.16) / 4.
        self.assertAllClose(mse, 0.06, rtol=1e-6)

    @parameterized.named_parameters(
        ("one_threshold", [0.5], [1.0, 4.0]),
        ("two_thresholds", THRESHOLDS, WEIGHTS),
        ("hko7_shape", [0.1, 0.3, 0.6, 0.9], [1.0, 2.0, 5.0, 10.0, 30.0]),
    )
    def test_loss_matches_numpy(self, thresholds, weights):
        frames, prediction = random_batch()
        model = PredRNN(
            **TINY,
            loss="balanced",
            loss_thresholds=thresholds,
            loss_weights=weights,
            seed=0,
        )
        loss, mse = self.compute_loss(model, frames, prediction)
        expected = numpy_balanced_loss(
            prediction, frames[:, 1:], thresholds, weights
        )
        self.assertAllClose(loss, expected, rtol=1e-5)
        self.assertAllClose(
            mse, np.mean((prediction - frames[:, 1:]) ** 2), rtol=1e-5
        )

    def test_mse_is_unchanged(self):
        frames, prediction = random_batch(seed=1)
        model = PredRNN(**TINY, seed=0)
        self.assertEqual(model.prediction_loss, "mse")
        loss, mse = self.compute_loss(model, frames, prediction)
        expected = np.mean((prediction - frames[:, 1:]) ** 2)
        self.assertAllClose(loss, expected, rtol=1e-6)
        self.assertAllClose(mse, expected, rtol=1e-6)

    def test_mixed_bfloat16_computes_in_float32(self):
        frames, prediction = random_batch(seed=2)
        model = PredRNN(**TINY, **BALANCED, dtype="mixed_bfloat16", seed=0)
        low = keras.ops.cast(prediction, "bfloat16")
        loss, _ = self.compute_loss(model, frames, low)
        rounded = self.to_numpy(keras.ops.cast(low, "float32"))
        expected = numpy_balanced_loss(
            rounded, frames[:, 1:], THRESHOLDS, WEIGHTS
        )
        self.assertAllClose(loss, expected, rtol=1e-5)

    @parameterized.named_parameters(
        ("unknown_loss", dict(loss="mae"), "loss='mae'"),
        (
            "mse_with_thresholds",
            dict(loss_thresholds=[0.5], loss_weights=[1, 2]),
            "no loss_thresholds or loss_weights with loss='mse'",
        ),
        (
            "balanced_without_thresholds",
            dict(loss="balanced"),
            "at least one loss_threshold",
        ),
        (
            "one_weight_too_few",
            dict(loss="balanced", loss_thresholds=[0.2, 0.5],
                 loss_weights=[1, 2]),
            r"loss_weights=\[1.0, 2.0\]",
        ),
        (
            "not_increasing",
            dict(loss="balanced", loss_thresholds=[0.5, 0.5],
                 loss_weights=[1, 2, 3]),
            "strictly increasing",
        ),
        (
            "zero_weight",
            dict(loss="balanced", loss_thresholds=[0.5],
                 loss_weights=[0, 2]),
            "loss_weights > 0",
        ),
        (
            "not_numbers",
            dict(loss="balanced", loss_thresholds=["high"],
                 loss_weights=[1, 2]),
            "lists of numbers",
        ),
    )
    def test_invalid_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message) as info:
            PredRNN(**TINY, **kwargs)
        self.assertEqual(len(str(info.value).splitlines()), 1)

    @parameterized.named_parameters(
        ("predrnn", PredRNN), ("predrnn_v2", PredRNNV2)
    )
    def test_config_round_trip(self, cls):
        model = cls(**TINY, **BALANCED, seed=3)
        config = model.get_config()
        self.assertEqual(config["loss"], "balanced")
        self.assertEqual(config["loss_thresholds"], THRESHOLDS)
        self.assertEqual(config["loss_weights"], WEIGHTS)
        clone = cls.from_config(config)
        self.assertEqual(clone.get_config(), config)
        self.assertEqual(clone.prediction_loss, "balanced")

    def test_config_without_the_loss_keys_loads_as_mse(self):
        config = PredRNNV2(**TINY, seed=3).get_config()
        for key in ("loss", "loss_thresholds", "loss_weights"):
            del config[key]
        model = PredRNNV2.from_config(config)
        self.assertEqual(model.prediction_loss, "mse")
        self.assertEqual(model.loss_thresholds, [])
        self.assertEqual(model.loss_weights, [])

    def test_compile_keeps_the_loss(self):
        model = PredRNN(**TINY, **BALANCED, seed=0)
        model.compile(optimizer="adam")
        self.assertEqual(model.get_config()["loss"], "balanced")

    def test_fit_reports_the_balanced_loss(self):
        frames, _ = random_batch(seed=4)
        frames = frames[:2]
        model = PredRNNV2(**TINY, **BALANCED, seed=1)
        model.compile(optimizer="adam")
        history = model.fit(frames, batch_size=1, epochs=1, verbose=0)
        self.assertEqual(int(self.to_numpy(model.sampling_step)), 2)
        loss = history.history["loss"][-1]
        mse = history.history["mse"][-1]
        decouple = history.history["decouple"][-1]
        self.assertTrue(np.isfinite(loss))
        # loss = balanced + beta * decouple, with weights >= 1 on top of
        # the MAE: larger than the MSE part.
        self.assertGreater(loss - 0.1 * decouple, mse)


# Recipes ----------------------------------------------------------------


def balanced_recipe(**train):
    return tiny_recipe(
        train={
            "loss": "balanced",
            "loss_thresholds": [0.25, 0.5],
            "loss_weights": [1, 2, 5],
            "precision": "float32",
            **train,
        }
    )


def test_recipe_defaults_are_mse_without_thresholds():
    recipe = recipe_config.recipe_from_dict(tiny_recipe())
    assert recipe["train"]["loss"] == "mse"
    assert recipe["train"]["loss_thresholds"] == []
    assert recipe["train"]["loss_weights"] == []
    # A recipe's list is its own, not the schema's default.
    recipe["train"]["loss_thresholds"].append(1.0)
    assert field_default("train", "loss_thresholds") == []


def test_recipe_values_are_checked_and_converted():
    assert check_value("train", "loss_thresholds", [2, 5.5]) == [2.0, 5.5]
    assert type(check_value("train", "loss_weights", [1])[0]) is float
    assert check_value("train", "loss_thresholds", []) == []
    for key, value in [
        ("loss", "mae"),
        ("loss_thresholds", 0.5),
        ("loss_thresholds", ["0.5"]),
        ("loss_thresholds", [True]),
        ("loss_thresholds", [float("nan")]),
        ("loss_weights", [1, 0]),
        ("loss_weights", [-1]),
    ]:
        with pytest.raises(RecipeError, match=rf"train\.{key}"):
            check_value("train", key, value)


def test_the_loss_keys_are_not_model_keys():
    with pytest.raises(RecipeError, match="Unknown recipe key model.loss"):
        recipe_config.recipe_from_dict(tiny_recipe(model={"loss": "mse"}))


@pytest.mark.parametrize(
    "train, named",
    [
        ({"loss_thresholds": [], "loss_weights": []}, "at least one"),
        ({"loss_weights": [1, 2]}, "one weight more than thresholds"),
        (
            {"loss_thresholds": [0.5, 0.25]},
            "train.loss_thresholds: expected strictly increasing",
        ),
        (
            {"loss_thresholds": [0.5, 2.0]},
            r"train.loss_thresholds: expected values in \[0, 1\]",
        ),
        (
            {"loss": "mse"},
            "must be empty with train.loss='mse'",
        ),
        (
            {"loss": "mse", "loss_thresholds": [], "loss_weights": [1]},
            "must be empty with train.loss='mse'",
        ),
    ],
)
def test_recipe_merge_errors_name_the_keys(train, named):
    with pytest.raises(RecipeError, match=named) as info:
        recipe_config.recipe_from_dict(balanced_recipe(**train))
    message = str(info.value)
    assert "train.loss_thresholds" in message
    assert len(message.splitlines()) == 1


def test_build_model_passes_the_thresholds_of_frames_unchanged():
    recipe = recipe_config.recipe_from_dict(balanced_recipe())
    model = recipe_config.build_model(recipe, (16, 16, 1), compile=False)
    assert model.prediction_loss == "balanced"
    assert model.loss_thresholds == [0.25, 0.5]
    assert model.loss_weights == [1.0, 2.0, 5.0]
    plain = recipe_config.recipe_from_dict(tiny_recipe())
    model = recipe_config.build_model(plain, (16, 16, 1), compile=False)
    assert model.prediction_loss == "mse"
    assert model.loss_thresholds == model.loss_weights == []


def fake_kind(convert):
    """Registers the data kind "scaled", whose values in physical units
    (like radar's mm/h) reach the model through `convert`; returns the
    calls of its transform."""
    calls = []

    class Values:
        unit = "mm/h"

        def __init__(self, data_config):
            self.data_config = data_config

        def to_model_units(self, values):
            calls.append((dict(self.data_config), list(values)))
            return convert(values)

    class Scaled(kinds.DataKind):
        name = "scaled"
        keys = {"unit": kinds.DataKey("a string", "mm/h", "the unit")}

        def transform(self, config):
            return Values(config)

    kinds.register(Scaled())
    return calls


@pytest.fixture(autouse=True)
def no_scaled_kind():
    yield
    kinds.unregister("scaled")


def test_model_units_converts_physical_values_through_the_kind():
    calls = fake_kind(lambda values: [v / 100 for v in values])
    data = {"kind": "scaled", "unit": "mm/h"}
    assert recipe_config.model_units(data, [2, 5, 10, 30]) == [
        0.02,
        0.05,
        0.1,
        0.3,
    ]
    assert calls == [(data, [2.0, 5.0, 10.0, 30.0])]
    # Physical values (radar's mm/h or dBZ): no [0, 1] check.
    assert recipe_config.model_units(data, [200]) == [2.0]


def test_model_units_of_frames_are_the_values_in_0_1():
    data = {"kind": "moving_mnist"}
    assert recipe_config.model_units(data, [0, 0.5, 1]) == [0.0, 0.5, 1.0]
    assert recipe_config.model_units(data, []) == []
    with pytest.raises(RecipeError, match="train.loss_thresholds"):
        recipe_config.model_units(data, [-0.1])


def test_model_kwargs_convert_physical_thresholds():
    fake_kind(lambda values: [v / 100 for v in values])
    recipe = recipe_config.recipe_from_dict(
        balanced_recipe(loss_thresholds=[0.2, 0.5])
    )
    recipe["data"] = {"kind": "scaled", "unit": "mm/h"}
    recipe["train"]["loss_thresholds"] = [2.0, 5.0]
    kwargs = recipe_config.model_kwargs(recipe)
    assert kwargs["loss"] == "balanced"
    assert kwargs["loss_thresholds"] == [0.02, 0.05]
    assert kwargs["loss_weights"] == [1.0, 2.0, 5.0]


def test_thresholds_that_the_transform_merges_are_refused():
    # Both above the transform's maximum: both become 1.
    fake_kind(lambda values: [min(v / 100, 1.0) for v in values])
    recipe = recipe_config.recipe_from_dict(balanced_recipe())
    recipe["data"] = {"kind": "scaled"}
    recipe["train"]["loss_thresholds"] = [200.0, 300.0]
    with pytest.raises(RecipeError, match="become equal model values"):
        recipe_config._check_loss(recipe)
